#!/bin/bash
# The scale benchmark's inside: run.sh starts it as PID 1 of new pid, net
# and mount namespaces, so that the bridge, the veths, the mounts and every
# process it makes live and die there. Orphans come back to this shell.
#
#   inner.sh TMP NSL FLOOR "N..." BRIDGE TOOL...
#
# For each tool and each N: start N containers running sleep, each on the
# bridge BRIDGE with its own address (a peer tool through ip(8) and nsenter(1)
# per container, as a script would; nsl through nsl.net, from one script);
# check that the first and the last answer ping; measure the memory of the
# tool's own processes (everything but the containers' sleep); tear all
# down, wait until the veths are gone, and check that nothing is left.
# Prints one line per run:
#   tool N start_ms per_container_ms kib_per_container teardown_ms check
set -uo pipefail

tmp=$1 nsl=$2 floor=$3 ns_list=$4 br=$5
shift 5
here=$(cd "$(dirname "$0")" && pwd)
root=$tmp/root state=$tmp/state

# This network namespace's own view in /sys (for /sys/class/net), and the
# cgroup2 mount crun and runc need on this hybrid host (see MACHINE.md).
mount -t sysfs sysfs /sys
mount -t cgroup2 none /sys/fs/cgroup
ip link set lo up
ip link add "$br" type bridge
ip addr add 10.88.0.1/16 dev "$br"
ip link set "$br" up
cut -d" " -f5 /proc/self/mountinfo | sort >"$tmp/mounts.base"

mkfifo "$tmp/nap" "$tmp/info"
exec {nap}<>"$tmp/nap"
nap() { read -r -t 0.0005 -u "$nap" || :; } # a short sleep without a fork

address() { local k=$(($1 + 10)); echo "10.88.$((k / 256)).$((k % 256))"; }

# veth count in this namespace (host ends; a container's end is in its own).
veths() {
	local n=0 d
	for d in /sys/class/net/*; do
		case ${d##*/} in lo | "$br") ;; *) n=$((n + 1)) ;; esac
	done
	echo "$n"
}

# The network of container i whose network namespace is process pid's, as
# a careful shell script makes it with iproute2: from inside the container's
# namespace, one `ip -batch` makes the veth (its host end hI straight into
# this namespace: pid 1 here is this shell), its address, and takes it up;
# the host end joins the bridge through one `ip -batch` that runs for the
# whole start (open_host). Like nsl's bridge mode, no IPv6 link-local
# address inside and no IPv6 on the bridge ports (the default set below):
# their traffic, flooded to every port, grows with N.
plug() { # i pid
	printf 'link add eth0 type veth peer name h%s netns 1\nlink set eth0 addrgenmode none\naddr add %s/16 dev eth0\nlink set eth0 up\n' \
		"$1" "$(address "$1")" | nsenter --net=/proc/"$2"/ns/net ip -batch - &&
		echo "link set h$1 master $br up" >&"$host_ip"
}
open_host() {
	exec {host_ip}> >(exec ip -batch - 2>"$tmp/host-ip.err")
	host_ip_pid=$!
}
# Waits for the host side to be done; fails if a command of it failed.
close_host() {
	exec {host_ip}>&-
	wait "$host_ip_pid" || { cat "$tmp/host-ip.err" >&2; return 1; }
}
echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6

declare -a pid aux

start_floor() { # i
	"$floor" -d "$root" /bin/sleep 1000000 >"$tmp/pid" </dev/null 2>&1 || return 1
	read -r "pid[$1]" <"$tmp/pid"
}
stop_floor() { kill -KILL "${pid[$1]}"; }

start_bwrap() {
	bwrap --unshare-ipc --unshare-pid --unshare-net --unshare-uts --bind "$root" / \
		--proc /proc --dev /dev --cap-drop ALL --cap-add CAP_KILL \
		--cap-add CAP_NET_BIND_SERVICE --cap-add CAP_AUDIT_WRITE --info-fd 3 \
		-- /bin/sleep 1000000 3>"$tmp/info" </dev/null >/dev/null 2>&1 &
	aux[$1]=$!
	local info=""
	read -r -d '' info <"$tmp/info"
	[[ $info =~ \"child-pid\":\ *([0-9]+) ]] || return 1
	pid[$1]=${BASH_REMATCH[1]}
}
stop_bwrap() { kill -KILL "${pid[$1]}"; }

start_oci() { # runtime i
	local -a opts=(--root "$state/$1")
	[ "$1" = crun ] && opts+=(--cgroup-manager=disabled)
	"$1" "${opts[@]}" run -d \
		--pid-file "$tmp/pid" --bundle "$tmp/bundle-sleep" "nslscale-$2" \
		</dev/null >/dev/null 2>&1 || return 1
	pid[$2]=""
	read -r "pid[$2]" <"$tmp/pid" # no newline at its end: read fails, pid set
	[ -n "${pid[$2]}" ]
}
# Teardown kills every container first, then deletes the stopped ones
# (delete -f would kill and then poll for the death, 100 ms at a time):
# crun deletes them all in one call, runc has no such option.
start_crun() { start_oci crun "$1"; }
stop_crun() { kill -KILL "${pid[$1]}"; }
reap_crun() { crun --root "$state/crun" delete "nslscale-$1" >/dev/null; }
# One call for all; again while some are left (a container killed a moment
# ago may not be dead yet, and crun will not delete a running one).
reap_all_crun() {
	local try
	for ((try = 0; try < 200; try++)); do
		crun --root "$state/crun" delete --regex '^nslscale-' >/dev/null 2>&1
		[ -z "$(crun --root "$state/crun" list -q 2>/dev/null)" ] && return 0
		sleep 0.01
	done
	return 1
}
start_runc() { start_oci runc "$1"; }
stop_runc() { kill -KILL "${pid[$1]}"; }
reap_runc() { runc --root "$state/runc" delete "nslscale-$1" >/dev/null; }

caps=+kill,+net_bind_service,+audit_write
setup_caps=+sys_admin,+mknod,+setpcap,$caps
unshare_script='set -e; R=$1; mount --rbind $R $R; cd $R
mount -t proc -o nosuid,nodev,noexec proc proc
mount -t tmpfs -o nosuid,mode=755 dev dev
mknod -m 666 dev/null c 1 3; mknod -m 666 dev/zero c 1 5; mknod -m 666 dev/full c 1 7
mknod -m 666 dev/random c 1 8; mknod -m 666 dev/urandom c 1 9; mknod -m 666 dev/tty c 5 0
pivot_root . .; umount -l .; cd /; shift
exec setpriv --nnp --ambient-caps -sys_admin,-mknod,-setpcap --inh-caps -sys_admin,-mknod,-setpcap "$@"'
start_unshare() {
	unshare --mount --uts --ipc --pid --net --fork --propagation private \
		setpriv --securebits +noroot,+noroot_locked --inh-caps "-all,$setup_caps" \
		--ambient-caps "-all,$setup_caps" "$root/bin/sh" -c "$unshare_script" sh "$root" \
		/bin/sleep 1000000 </dev/null >/dev/null 2>&1 &
	aux[$1]=$!
	local kids=""
	# unshare(1) forks once it made the namespaces: its child is the container.
	# (the file has no newline: read fails at its end, with kids set)
	until read -r kids _ <"/proc/${aux[$1]}/task/${aux[$1]}/children" || [ -n "$kids" ]; do
		[ -d "/proc/${aux[$1]}" ] || return 1
		nap
	done
	pid[$1]=$kids
}
stop_unshare() { kill -KILL "${pid[$1]}"; }

# Proportional set size of every process here but this shell and the
# containers' sleep: the tool's own processes (bwrap's monitors, unshare's
# parent, the nsl script), in KiB.
tool_pss() {
	local p comm key val unit total=0
	for p in /proc/[0-9]*; do
		case ${p#/proc/} in $$ | "$BASHPID") continue ;; esac
		read -r comm <"$p/comm" 2>/dev/null || continue
		[ "$comm" = sleep ] && continue
		while read -r key val unit; do
			[ "$key" = Pss: ] && total=$((total + val)) && break
		done <"$p/smaps_rollup" 2>/dev/null
	done
	echo "$total"
}

wait_veths_gone() {
	local i
	for ((i = 0; i < 200000; i++)); do
		[ "$(veths)" = 0 ] && return 0
		nap
	done
	return 1
}

# What a run may have left: processes, interfaces, mounts, runtime state.
leftovers() {
	local what="" p n comm
	n=0
	for p in /proc/[0-9]*; do
		case ${p#/proc/} in $$ | "$BASHPID") continue ;; esac
		[ -e "$p/exe" ] || continue # a zombie not reaped yet is no process
		n=$((n + 1))
		read -r comm <"$p/comm" && what+="process:$comm,"
	done
	[ "$(veths)" = 0 ] || what+="$(veths)_veths,"
	cut -d" " -f5 /proc/self/mountinfo | sort | cmp -s - "$tmp/mounts.base" ||
		what+="mounts:$(cut -d" " -f5 /proc/self/mountinfo | sort | comm -13 "$tmp/mounts.base" - | tr '\n' ' '),"
	for p in "$state"/*/nslscale-* /sys/fs/cgroup/nslscale-* /run/nsl/net/"$br"@*/*; do
		[ -e "$p" ] && what+="${p##*/},"
	done
	echo "${what:-none}"
}

ms() { echo $(($1 / 1000)).$(printf %03d $(($1 % 1000))); } # µs -> ms
now_us() { local t=${EPOCHREALTIME/./}; echo "$t"; }

# After a failure: stop containers 1..n of the tool, whatever state they are in.
undo() { # tool n
	local i
	for ((i = 1; i <= $2; i++)); do "stop_$1" "$i" 2>/dev/null; done
	wait
	if declare -F "reap_$1" >/dev/null; then
		for ((i = 1; i <= $2; i++)); do "reap_$1" "$i" 2>/dev/null; done
	fi
	wait_veths_gone
}

# On the way out, whatever happened: the runtimes' containers and the
# cgroups runc made in the host's cgroup2 hierarchy go.
final_cleanup() {
	local r id d
	for r in crun runc; do
		[ -d "$state/$r" ] || continue
		for id in $("$r" --root "$state/$r" list -q 2>/dev/null); do
			"$r" --root "$state/$r" delete -f "$id" >/dev/null 2>&1
		done
	done
	for d in /sys/fs/cgroup/nslscale-*; do [ -d "$d" ] && rmdir "$d"; done
	# nsl's address leases of this bridge, on the host's /run (kept by
	# bridge and network namespace, outside any namespace)
	rm -rf "/run/nsl/net/$br"@*
	return 0
}
trap final_cleanup EXIT

# Whether the first and the last of n containers answer ping (three tries
# each: not timed, and a lost first packet is no failed container).
answers() { # n
	local a try
	for a in "$(address 1)" "$(address "$1")"; do
		for try in 1 2 3; do
			ping -c 1 -W 2 "$a" >/dev/null && break
			[ "$try" = 3 ] && return 1
		done
	done
	return 0
}

run_peer() { # tool n
	local t=$1 n=$2 i t0 t1 t2 t3 pss
	t0=$(now_us)
	open_host
	for ((i = 1; i <= n; i++)); do
		# the containers must not hold the host side's pipe open
		"start_$t" "$i" {host_ip}>&- || { echo "scale: $t: container $i did not start" >&2; close_host; undo "$t" "$i"; return 1; }
		plug "$i" "${pid[$i]}" || { echo "scale: $t: network of container $i failed" >&2; close_host; undo "$t" "$i"; return 1; }
	done
	close_host || { echo "scale: $t: the bridge ports failed" >&2; undo "$t" "$n"; return 1; }
	t1=$(now_us)
	answers "$n" || { echo "scale: $t: containers do not answer ping" >&2; undo "$t" "$n"; return 1; }
	pss=$(tool_pss)
	t2=$(now_us)
	for ((i = 1; i <= n; i++)); do "stop_$t" "$i"; done
	wait
	if declare -F "reap_all_$t" >/dev/null; then
		"reap_all_$t"
	elif declare -F "reap_$t" >/dev/null; then
		for ((i = 1; i <= n; i++)); do "reap_$t" "$i"; done
	fi
	wait_veths_gone
	t3=$(now_us)
	report "$t" "$n" "$t0" "$t1" "$t2" "$t3" "$pss"
}

run_nsl() { # tool n mode
	local n=$2 t0 t1 t2 t3 pss line
	t0=$(now_us)
	coproc NSL { exec "$nsl" run "$here/scale.lua" "$root" "$n" "$3" "$br"; }
	read -r line <&"${NSL[0]}"
	t1=$(now_us)
	case $line in up*) ;; *) echo "scale: nsl did not start its containers" >&2; return 1 ;; esac
	echo "scale: nsl network: ${line#up }" >&2
	answers "$n" || { echo "scale: nsl: containers do not answer ping" >&2; return 1; }
	pss=$(tool_pss)
	t2=$(now_us)
	echo stop >&"${NSL[1]}"
	read -r line <&"${NSL[0]}"
	wait "$NSL_PID"
	wait_veths_gone
	t3=$(now_us)
	report "$1" "$n" "$t0" "$t1" "$t2" "$t3" "$pss"
}

report() { # tool n t0 t1 t2 t3 pss
	local start=$(($4 - $3)) down=$(($6 - $5))
	echo "$1 $2 $(ms "$start") $(ms $((start / $2))) $(($7 / $2)) $(ms "$down") $(leftovers)"
}

# Small N are run three times (run.sh keeps the median): ten containers
# are over in a few tens of milliseconds, a blink of the shared machine.
for tool in "$@"; do
	for n in $ns_list; do
		reps=1
		[ "$n" -le 10 ] && reps=3
		for ((r = 0; r < reps; r++)); do
			case $tool in
			nsl) run_nsl nsl "$n" bridge ;;
			nsl-net) run_nsl nsl-net "$n" on_start ;;
			*) run_peer "$tool" "$n" ;;
			esac ||
				echo "$tool $n - - - - failed"
		done
	done
done
