#!/bin/sh
# table.sh START.TXT: the markdown table of the start benchmark, each
# median also as a ratio to the floor's (the line "floor").
awk '
BEGIN {
	label["floor"] = "floor: C, clone + pivot_root + mounts + exec, one process for all"
	label["floor-vfork"] = "floor, cloned as posix_spawn does (CLONE_VM, CLONE_VFORK), one process for all"
	label["nsl-prim"] = "nsl primitives (nsl.clone, mount, pivot_root, caps.keep, exec), one script for all"
	label["nsl-container"] = "**(a) nsl.container, one script for all**"
	label["nsl-container-defaults"] = "nsl.container with its default hardening, one script for all"
	label["floor-proc"] = "floor, one process per container"
	label["nsl-prim-run"] = "nsl primitives, one `nsl run` per container"
	label["nsl-run"] = "**(b) `nsl run`, one per container**"
	label["bwrap"] = "bwrap"
	label["crun"] = "crun (cgroups disabled)"
	label["runc"] = "runc (cgroup2 trick)"
	label["unshare"] = "unshare(1) + busybox sh (mounts, pivot_root)"
}
{ t[NR] = $1; n[NR] = $2; med[NR] = $3; p10[NR] = $4; p90[NR] = $5; if ($1 == "floor") f = $3 }
END {
	print "| tool | containers | median ms | p10 ms | p90 ms | median / floor |"
	print "| --- | ---: | ---: | ---: | ---: | ---: |"
	for (i = 1; i <= NR; i++) {
		name = (t[i] in label) ? label[t[i]] : t[i]
		if (n[i] == "-") { printf "| %s | did not run | | | | |\n", name; continue }
		printf "| %s | %d | %.2f | %.2f | %.2f | %.2f |\n", name, n[i], med[i] / 1000, p10[i] / 1000, p90[i] / 1000, f ? med[i] / f : 0
	}
}' "$1"
