#!/bin/sh
# Boots the guest under QEMU (TCG: this machine has no KVM), shows its
# serial console as it goes and keeps it in LOG, and ends with the guest's
# own "N passed, N failed" line. Fails when that line counts a failure,
# when the guest reported an error, or when it never reported within
# LIMIT seconds (default 900).
#   tools/vm/boot.sh KERNEL INITRD LOG [LIMIT]
set -eu
kernel=$1
initrd=$2
log=$3
limit=${4:-900}
start=$(date +%s)
timeout -k 10 "$limit" qemu-system-x86_64 -accel tcg,thread=multi -cpu max -m 2048 -smp 2 \
	-nographic -nic none -no-reboot -kernel "$kernel" -initrd "$initrd" \
	-append "console=ttyS0 quiet panic=-1" < /dev/null 2>&1 | tee "$log" || true
took=$(($(date +%s) - start))

marker() {
	tr -d '\r' < "$log" | sed -n "s/^NSL-VM-$1: //p" | tail -n 1
}
error=$(marker ERROR)
result=$(marker RESULT)
echo
echo "check-vm: the guest ran $took s (console: $log)"
if [ -n "$error" ]; then
	echo "check-vm: the guest failed to set up: $error"
	exit 1
fi
if [ -z "$result" ]; then
	echo "check-vm: the guest never reported (crashed, or still running after $limit s)"
	exit 1
fi
echo "$result"
failed=$(echo "$result" | sed -n 's/^[0-9]* passed, \([0-9]*\) failed.*/\1/p')
[ "$failed" = 0 ]
