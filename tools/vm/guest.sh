#!/bin/sh
# The guest's second stage, run by busybox init (sysinit) in the tmpfs
# root: a pure cgroup v2 tree at /sys/fs/cgroup with the controllers
# enabled for children, as a systemd host on cgroup v2 has it; then the
# specs as root from /nsl, one busted run per line of /etc/nsl-vm/runs
# (its arguments, shell-quoted); then one line for the host to read,
# "NSL-VM-RESULT: N passed, N failed[, N skipped]", the sums over the
# runs, and the power goes off. A step that fails reports
# "NSL-VM-ERROR: ..." instead.
set -u
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8
# NSL_CHECK_VM: specs that need this lane fail rather than skip
export NSL_BIN=/nsl/build/bin/nsl NSL_CHECK_VM=1

off() {
	sync
	busybox poweroff -f
}
step() {
	"$@" && return 0
	echo "NSL-VM-ERROR: $*"
	off
}

# the options systemd mounts it with
step mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup
step sh -c 'echo "+cpuset +cpu +io +memory +pids" > /sys/fs/cgroup/cgroup.subtree_control'
step mkdir -p /dev/pts /dev/shm
step mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
step mount -t tmpfs -o mode=1777 tmpfs /dev/shm
step ip link set lo up
step mount -t securityfs securityfs /sys/kernel/security
step hostname nsl-vm
echo "nsl-vm: Linux $(uname -r); cgroup2 at /sys/fs/cgroup, controllers for children:" \
	"$(cat /sys/fs/cgroup/cgroup.subtree_control); LSMs: $(cat /sys/kernel/security/lsm 2>/dev/null)"

cd /nsl || step false
passed=0 failed=0 skipped=0
start=$(date +%s)
exec 3< /etc/nsl-vm/runs
while read -r args <&3; do
	case "$args" in '' | '#'*) continue ;; esac
	echo "nsl-vm: busted $args"
	t0=$(date +%s)
	eval "set -- $args"
	"$NSL_BIN" run /usr/bin/busted "$@" < /dev/null 2>&1 | tee /tmp/nsl-vm-run
	line=$(tail -n 1 /tmp/nsl-vm-run)
	p=$(echo "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed.*/\1/p')
	f=$(echo "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed.*/\2/p')
	s=$(echo "$line" | sed -n 's/.*, \([0-9]*\) skipped$/\1/p')
	if [ -z "$p" ]; then
		echo "nsl-vm: that run ended without a summary line: counted as one failure"
		p=0 f=1
	fi
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + ${s:-0}))
	echo "nsl-vm: $line ($(($(date +%s) - t0)) s)"
done
rm -f /tmp/nsl-vm-run
echo "nsl-vm: the specs took $(($(date +%s) - start)) s"
result="$passed passed, $failed failed"
[ "$skipped" -gt 0 ] && result="$result, $skipped skipped"
echo "NSL-VM-RESULT: $result"
off
