#!/bin/bash
# The confinement benchmark: what the default seccomp filter costs.
#
#   run.sh OUT NSL N ROUNDS DD_RUNS ONE
#
# 1. Start cost, one script for all (confine.lua): N containers of /bin/true
#    from a busybox root in a row, best of ROUNDS runs, with seccomp = false,
#    the default filter (the field absent) and the default filter with
#    landlock = {read = {"/"}, exec = {"/bin"}}; then N of each taking turns
#    container by container (median). Compiling the filter is cached per
#    process: confine.lua also times nsl.seccomp.compile on fresh tables.
# 2. One `nsl run one.lua` per container, which reads the compiled profile
#    from the caller's cache directory (compiled once per nsl build): ONE of each mode, in 5 rounds taking turns (bench/start's
#    drive seq: fork to reaped; median).
# 3. busybox dd if=/dev/zero of=/dev/null bs=1 count=1000000 (1 million
#    reads and 1 million writes) in a container, seccomp = false against the
#    default filter: wall time of c:run(), best of DD_RUNS; the difference
#    divided by 2 million is the filter's cost per system call.
#
# Writes OUT/confine.txt (raw) and OUT/confine.md (the table). Everything it
# makes lives in one temporary directory, removed at the end; the containers
# end with their script.
set -euo pipefail

out=$1 nsl=$(realpath "$2") n=$3 rounds=$4 dd=$5 one=$6
here=$(cd "$(dirname "$0")" && pwd)
drive=$(realpath "$out/drive")
modes=(off default landlock)

tmp=$(mktemp -d /tmp/nsl-bench-confine.XXXXXX)
cleanup() {
	if grep -q " $tmp" /proc/self/mounts; then
		echo "confine: mounts left under $tmp, not removing it" >&2
		return 1
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
mkdir "$tmp/root" "$tmp/samples"

echo "confine: one script, $n containers per run, $rounds runs per mode" >&2
"$nsl" run "$here/confine.lua" "$tmp/root" "$n" "$rounds" "$dd" >"$tmp/raw"

echo "confine: one \`nsl run\` per container, $one per mode" >&2
per=$(( (one + 4) / 5 ))
for _ in 1 2 3 4 5; do
	for m in "${modes[@]}"; do
		"$drive" seq "$per" "$tmp/samples/$m" -- "$nsl" run "$here/one.lua" "$tmp/root" "$m"
	done
done
for m in "${modes[@]}"; do
	# n median p10 p90 mean, in microseconds
	echo "one-$m $("$drive" stats "$tmp/samples/$m" | awk '{print $2 / 1000, $1}')" >>"$tmp/raw"
done
cp "$tmp/raw" "$out/confine.txt"

awk -v n="$n" -v rounds="$rounds" -v dd="$dd" '
{ v[$1] = $2; if ($1 == "programs") insns = $3; if ($1 ~ /^one-/) cnt = $3 }
function d(a, b) { return sprintf("%+.3f", a - b) }
END {
	print "| per container, ms | `seccomp = false` | default filter | default + Landlock | default − false | Landlock − default |"
	print "| --- | ---: | ---: | ---: | ---: | ---: |"
	printf "| one script, %d in a row, best of %d runs | %.3f | %.3f | %.3f | %s | %s |\n", n, rounds,
		v["start-off"], v["start-default"], v["start-landlock"],
		d(v["start-default"], v["start-off"]), d(v["start-landlock"], v["start-default"])
	printf "| one script, %d of each taking turns, median | %.3f | %.3f | %.3f | %s | %s |\n", n,
		v["turns-off"], v["turns-default"], v["turns-landlock"],
		d(v["turns-default"], v["turns-off"]), d(v["turns-landlock"], v["turns-default"])
	printf "| one `nsl run one.lua` per container (the profile read from the cache), %d each, median | %.3f | %.3f | %.3f | %s | %s |\n", cnt,
		v["one-off"], v["one-default"], v["one-landlock"],
		d(v["one-default"], v["one-off"]), d(v["one-landlock"], v["one-default"])
	print ""
	print "| busybox `dd if=/dev/zero of=/dev/null bs=1 count=1000000` in a container | `seccomp = false` | default filter | difference |"
	print "| --- | ---: | ---: | ---: |"
	printf "| wall time of `c:run()`, best of %d, ms | %.1f | %.1f | %+.1f |\n", dd, v["dd-off"], v["dd-default"], v["dd-default"] - v["dd-off"]
	printf "| per system call (2 million: a read and a write per byte), ns | %.0f | %.0f | %+.1f |\n",
		v["dd-off"] / 2, v["dd-default"] / 2, (v["dd-default"] - v["dd-off"]) / 2
	print ""
	printf "Compiling the default filter (`nsl.seccomp.compile{extends = \"default\"}`, a fresh table): %.2f ms the first time in a process (loading the compiler too), %.2f ms after (median of 10); %d programs, %d BPF instructions. ", v["compile-first"], v["compile"], v["programs"], insns
	delta = v["start-default"] - v["start-off"]
	printf "Goal: at most +0.2 ms per container with the default filter, one script: %s ms, %s.\n", d(v["start-default"], v["start-off"]), (delta <= 0.2 ? "met" : "not met")
}' "$out/confine.txt" >"$out/confine.md"
cat "$out/confine.md"
