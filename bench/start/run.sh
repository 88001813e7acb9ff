#!/bin/bash
# The container-start benchmark (issue 6, part 1): the same container
# (/bin/true; mnt, uts, ipc, pid, net namespaces; the root through
# pivot_root; /proc and /dev; three capabilities kept, no_new_privs)
# started one after another by every tool, on one busybox root.
#
#   run.sh OUT NSL SAMPLES ROUNDS
#
# Each tool gets SAMPLES containers, in ROUNDS rounds that take turns
# (so that a burst of load on the shared machine hits every tool alike).
# Writes OUT/start.txt ("tool n median p10 p90 mean", microseconds) and
# OUT/start.md (the table, with the ratio of each median to the floor's).
set -euo pipefail

out=$1 nsl=$(realpath "$2") samples=$3 rounds=$4
here=$(cd "$(dirname "$0")" && pwd)
drive=$out/drive floor=$out/floor
per=$(( (samples + rounds - 1) / rounds ))

tmp=$(mktemp -d /tmp/nsl-bench-start.XXXXXX)
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT
root=$tmp/root bundle=$tmp/bundle state=$tmp/state
"$here/rootfs.sh" "$root"
mkdir -p "$state" "$tmp/samples"
for c in true false; do
	mkdir -p "$bundle-$c"
	"$here/oci-config.sh" "$root" /bin/$c >"$bundle-$c/config.json"
done

caps=+kill,+net_bind_service,+audit_write
setup_caps=+sys_admin,+mknod,+setpcap,$caps
# unshare(1) has no pivot_root and no capability options: a busybox shell
# in the root does the mounts and the pivot, util-linux's setpriv and
# busybox's give it the capabilities it needs and take them away before
# the exec (the result is the one bwrap gives: three capabilities,
# bounding set untouched).
unshare_script='set -e; R=$1; mount --rbind $R $R; cd $R
mount -t proc -o nosuid,nodev,noexec proc proc
mount -t tmpfs -o nosuid,mode=755 dev dev
mknod -m 666 dev/null c 1 3; mknod -m 666 dev/zero c 1 5; mknod -m 666 dev/full c 1 7
mknod -m 666 dev/random c 1 8; mknod -m 666 dev/urandom c 1 9; mknod -m 666 dev/tty c 5 0
pivot_root . .; umount -l .; cd /; shift
exec setpriv --nnp --ambient-caps -sys_admin,-mknod,-setpcap --inh-caps -sys_admin,-mknod,-setpcap "$@"'

# crun refuses the host's hybrid cgroup layout: crun and runc run in a
# mount namespace whose /sys/fs/cgroup is a plain cgroup2 mount, crun with
# its cgroup manager disabled (runc makes and removes a cgroup there).
cgroup2() {
	unshare -m sh -c 'umount -R /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup && exec "$@"' sh "$@"
}

# tool name -> how it is run ("ticks": one process starts them all;
# "seq": one process per container) and its command.
tools=(floor floor-vfork nsl-prim nsl-container nsl-container-defaults floor-proc nsl-prim-run
       nsl-run bwrap crun runc unshare)
declare -A mode cmd wrap
mode[floor]=ticks;      cmd[floor]="$floor -t -n @N@ $root @CMD@"
mode[floor-vfork]=ticks; cmd[floor-vfork]="$floor -t -v -n @N@ $root @CMD@"
mode[nsl-prim]=ticks;   cmd[nsl-prim]="$nsl run $here/prim.lua $root @N@ @CMD@ tick"
mode[nsl-container]=ticks; cmd[nsl-container]="$nsl run $here/cont.lua $root @N@ @CMD@ tick"
mode[nsl-container-defaults]=ticks
cmd[nsl-container-defaults]="$nsl run $here/cont.lua $root @N@ @CMD@ tick defaults"
mode[floor-proc]=seq;   cmd[floor-proc]="$floor $root @CMD@"
mode[nsl-prim-run]=seq; cmd[nsl-prim-run]="$nsl run $here/prim.lua $root 1 @CMD@"
mode[nsl-run]=seq;      cmd[nsl-run]="$nsl run $here/cont.lua $root 1 @CMD@ spec"
mode[bwrap]=seq
cmd[bwrap]="bwrap --unshare-ipc --unshare-pid --unshare-net --unshare-uts --bind $root / --proc /proc --dev /dev --cap-drop ALL --cap-add CAP_KILL --cap-add CAP_NET_BIND_SERVICE --cap-add CAP_AUDIT_WRITE -- @CMD@"
mode[crun]=seq;  wrap[crun]=cgroup2
cmd[crun]="crun --root $state/crun --cgroup-manager=disabled run --bundle @BUNDLE@ bench"
mode[runc]=seq;  wrap[runc]=cgroup2
cmd[runc]="runc --root $state/runc run --bundle @BUNDLE@ bench"
mode[unshare]=seq
cmd[unshare]="unshare --mount --uts --ipc --pid --net --fork --propagation private setpriv --securebits +noroot,+noroot_locked --inh-caps -all,$setup_caps --ambient-caps -all,$setup_caps $root/bin/sh -c @SCRIPT@ sh $root @CMD@"

run_tool() { # tool count [command]
	local t=$1 c=$2 prog=${3:-true} a
	local -a argv=()
	# The commands are word lists with two placeholders.
	for a in ${cmd[$t]}; do
		case $a in
		@N@) argv+=("$c") ;;
		@SCRIPT@) argv+=("$unshare_script") ;;
		@CMD@) argv+=("/bin/$prog") ;;
		@BUNDLE@) argv+=("$bundle-$prog") ;;
		*) argv+=("$a") ;;
		esac
	done
	${wrap[$t]:-} "$drive" "${mode[$t]}" "$c" "$tmp/samples/$t" -- "${argv[@]}"
}

# A tool that cannot run here (nsl.container not written yet, ...) is
# reported as such instead of stopping the benchmark; so is one that
# does not fail when the container runs /bin/false (it did not run it).
declare -A missing
for t in "${tools[@]}"; do
	if ! err=$(run_tool "$t" 1 true 2>&1); then
		missing[$t]=$(echo "$err" | tail -1)
	elif run_tool "$t" 1 false >/dev/null 2>&1; then
		missing[$t]="/bin/false in the container did not make it fail"
	fi
	[ -n "${missing[$t]:-}" ] && echo "start: $t left out: ${missing[$t]}" >&2
	rm -f "$tmp/samples/$t"
done

for r in $(seq "$rounds"); do
	echo "start: round $r of $rounds ($per containers per tool)" >&2
	for t in "${tools[@]}"; do
		[ -n "${missing[$t]:-}" ] && continue
		run_tool "$t" "$per"
	done
done

: >"$out/start.txt"
for t in "${tools[@]}"; do
	if [ -n "${missing[$t]:-}" ]; then
		echo "$t - - - - -" >>"$out/start.txt"
	else
		echo "$t $("$drive" stats "$tmp/samples/$t")" >>"$out/start.txt"
	fi
done
"$here/table.sh" "$out/start.txt" >"$out/start.md"
cat "$out/start.md"
