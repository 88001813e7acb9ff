#!/bin/bash
# The scale benchmark (issue 6, part 3): 10, 100, 1000 containers alive at
# once on one bridge, each with its own address, for nsl and each peer.
#
#   run.sh OUT NSL FLOOR "N..." TOOL...
#
# The work happens in inner.sh, PID 1 of fresh pid, net and mount
# namespaces: the bridge and every address exist only there, and whatever
# a tool leaves dies with them. This side builds the root and the OCI
# bundle, checks from the host that nothing was left, and writes
# OUT/scale.txt, OUT/scale.md and OUT/scale.svg (gnuplot).
set -euo pipefail

out=$(realpath "$1") nsl=$(realpath "$2") floor=$(realpath "$3") ns_list=$4
shift 4
here=$(cd "$(dirname "$0")" && pwd)
start=$here/../start

tmp=$(mktemp -d /tmp/nsl-bench-scale.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$start/rootfs.sh" "$tmp/root"
mkdir -p "$tmp/bundle-sleep" "$tmp/state"
"$start/oci-config.sh" "$tmp/root" /bin/sleep 1000000 >"$tmp/bundle-sleep/config.json"

# The host as it was: what a run could leave there (other engineers work on
# this machine too, so only what the benchmark could have made is looked at).
host_state() {
	ip -o link show | awk -F': ' '{print $2}' | sort
	ip netns list 2>/dev/null | grep -e nslscale -e br0 || true
	grep -e "$tmp" -e nslscale /proc/self/mountinfo || true
	find /sys/fs/cgroup -maxdepth 3 -name 'nslscale-*' 2>/dev/null
	ls /run/crun /run/runc 2>/dev/null | grep nslscale || true
	ls -d /run/nsl/net/nslsc* 2>/dev/null || true
}
# The bridge's name is the run's own, so that what the run could leave on
# the host's /run (nsl's leases, kept by bridge and network namespace) is
# told apart from anything else there.
bridge=nslsc$$
before=$(host_state)

unshare --pid --net --mount --fork --propagation private --mount-proc \
	bash "$here/inner.sh" "$tmp" "$nsl" "$floor" "$ns_list" "$bridge" "$@" | tee "$out/scale-runs.txt"
# One line per tool and N: the run with the median per-container time.
awk '{ key = $1 " " $2; if (!(key in n)) order[++k] = key; line[key, ++n[key]] = $0; v[key, n[key]] = ($4 == "-" ? 1e12 : $4) }
END {
	for (i = 1; i <= k; i++) {
		key = order[i]; m = n[key]
		for (a = 1; a <= m; a++) for (b = a + 1; b <= m; b++)
			if (v[key, b] < v[key, a]) { t = v[key, a]; v[key, a] = v[key, b]; v[key, b] = t; t = line[key, a]; line[key, a] = line[key, b]; line[key, b] = t }
		print line[key, int((m + 1) / 2)]
	}
}' "$out/scale-runs.txt" >"$out/scale.txt"

after=$(host_state)
left=$(pgrep -f "$tmp" || true)
if [ "$before" != "$after" ] || [ -n "$left" ]; then
	echo "scale: the host changed during the run:" >&2
	diff <(echo "$before") <(echo "$after") >&2 || true
	[ -n "$left" ] && echo "scale: processes left: $left" >&2
	host_check="**changed** (see the run's output)"
else
	host_check="unchanged (interfaces, named netns, mounts, cgroups, runtime state, processes)"
fi

# The table, and a plot of per-container start cost against N.
awk -v host="$host_check" '
BEGIN {
	label["nsl"] = "**nsl** (one script, nsl.container bridge mode)"
	label["nsl-net"] = "nsl (one script, nsl.container + nsl.net in on_start)"
	label["floor"] = "floor (C) + ip/nsenter"
	label["bwrap"] = "bwrap + ip/nsenter"
	label["crun"] = "crun + ip/nsenter"
	label["runc"] = "runc + ip/nsenter"
	label["unshare"] = "unshare(1) + ip/nsenter"
	print "| tool | N | start all, ms | per container, ms | vs N=10 | tool memory per container, KiB | teardown, ms | left inside |"
	print "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
}
{
	name = ($1 in label) ? label[$1] : $1
	if ($7 == "failed") { printf "| %s | %d | failed | | | | | |\n", name, $2; next }
	if (!($1 in first)) first[$1] = $4
	printf "| %s | %d | %s | %s | %.2f | %s | %s | %s |\n", name, $2, $3, $4, $4 / first[$1], $5, $6, $7
}
END { print ""; print "Host afterwards: " host "." }' "$out/scale.txt" >"$out/scale.md"

if command -v gnuplot >/dev/null; then
	plot=""
	for t in "$@"; do
		awk -v t="$t" '$1 == t && $7 != "failed" { print $2, $4 }' "$out/scale.txt" >"$out/scale-$t.dat"
		plot+="${plot:+, }'$out/scale-$t.dat' using 1:2 with linespoints title '$t'"
	done
	gnuplot <<EOF
set terminal svg size 720,440 font "sans,12" background rgb "white"
set output "$out/scale.svg"
set title "Start cost per container with N alive at once (on one bridge)"
set xlabel "containers alive at once (N)"
set ylabel "ms per container (start + network)"
set logscale x
set xrange [7:1400]
set yrange [0:*]
set key outside right
set grid
plot $plot
EOF
fi
cat "$out/scale.md"
