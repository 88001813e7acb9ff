#!/bin/sh
# rootfs.sh DIR: the root file system every benchmarked tool gets, a static
# busybox and the applets the benchmarks run, made once per run in DIR.
set -eu
dir=$1
bb=$(command -v busybox)
mkdir -p "$dir/bin" "$dir/proc" "$dir/dev" "$dir/sys" "$dir/tmp" "$dir/etc" "$dir/mnt"
cp "$bb" "$dir/bin/busybox"
for a in sh true sleep ip mount umount mknod pivot_root setpriv cat ls; do
	ln -sf busybox "$dir/bin/$a"
done
echo "root:x:0:0:root:/:/bin/sh" >"$dir/etc/passwd"
