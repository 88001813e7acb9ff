#!/bin/sh
# make check-vm: Debian 12's own kernel (linux-image-cloud-amd64, 6.1) with
# a pure cgroup v2 tree, booted under QEMU with an initramfs holding the
# nsl build, runs the specs listed in tools/vm/runs as root and reports
# their "N passed, N failed" as the last line. The cache (kernel package,
# initramfs, console log) is BUILD/vm.
#   tools/vm/check.sh BUILD
set -eu
here=$(dirname "$0")
build=$1
cache=$build/vm
mkdir -p "$cache"
kdir=$("$here/kernel.sh" "$cache")
"$here/initramfs.sh" "$kdir" "$build" "$cache/initrd.cpio" "${NSL_VM_RUNS:-$here/runs}"
"$here/boot.sh" "$(echo "$kdir"/boot/vmlinuz-*)" "$cache/initrd.cpio" "$cache/console.log" "${NSL_VM_LIMIT:-900}"
