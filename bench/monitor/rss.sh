#!/bin/sh
# The resident memory of nsl-monitor while it supervises a process, after
# it has logged 20000 lines of that process's output (issue 5's goal:
# under 1 MiB). Prints VmRSS and Pss in kB.
#
#   bench/monitor/rss.sh [path/to/nsl-monitor]
set -eu
here=$(dirname "$0")
monitor=${1:-${NSL_MONITOR:-$here/../../build/bin/nsl-monitor}}
[ -x "$monitor" ] || { echo "rss.sh: $monitor is not built (make)" >&2; exit 1; }
dir=$(mktemp -d /tmp/nsl-bench-monitor.XXXXXX)
trap 'rm -rf "$dir"' EXIT

# The monitor must be the parent of what it watches: a shell starts the
# process (seq, then sleep), then execs the monitor with the output's
# read end, a fifo, on descriptor 3.
mkfifo "$dir/out"
sh -c 'exec 3<>"$1/out"
	(seq 1 20000; exec sleep 60) >"$1/out" 2>&1 &
	exec "$2" --pid $! --log "$1/log" --exit-file "$1/exit"' sh "$dir" "$monitor" &
pid=$!

tries=0
until [ "$(wc -l 2>/dev/null <"$dir/log" || echo 0)" -ge 20000 ]; do
	tries=$((tries + 1))
	[ $tries -le 200 ] || { echo "rss.sh: the monitor logged nothing" >&2; kill "$pid"; exit 1; }
	sleep 0.05
done
rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
pss=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup")
kill -TERM "$pid" # passed on to the sleep, whose end ends the monitor
wait "$pid" || true
[ "$(head -1 "$dir/exit")" = "signal 15" ] || echo "rss.sh: unexpected exit file" >&2
echo "nsl-monitor while supervising: VmRSS $rss kB, Pss $pss kB"
