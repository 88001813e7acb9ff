#!/bin/sh
# Builds the guest's initramfs (an uncompressed newc cpio) at OUT: a small
# Debian userland copied from this machine (the commands the specs run,
# with the shared libraries ldd names), busted's Lua files, busybox-static,
# the kernel modules the specs need, the nsl build in /nsl with spec/ and
# lua/, and the guest's two boot stages (tools/vm/init, tools/vm/guest.sh).
#   tools/vm/initramfs.sh KERNEL_DIR BUILD OUT RUNS
# KERNEL_DIR: from tools/vm/kernel.sh; BUILD: the nsl build directory;
# RUNS: a file of busted argument lines, one busted run each.
set -eu
kernel=$(cd "$1" && pwd)
build=$2
out=$3
runs=$4
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)

# What the specs run, besides nsl (from dash, coreutils, util-linux,
# iproute2, iputils-ping, procps, findutils, grep, sed, tar, gzip, mawk,
# hostname, lua5.4, lua-busted and busybox-static): Debian's own programs,
# as on a user's machine, not busybox's applets.
COMMANDS="sh dash env cat cp mv rm mkdir rmdir ls ln chmod chown stat sleep touch
tr head tail wc sort uniq cut mktemp id uname date tee true false printf echo
test dirname basename readlink realpath seq timeout nproc dd sync cmp
kill ps grep find xargs sed awk tar gzip
ip ping nsenter unshare setpriv findmnt mount umount
hostname lua5.4 busted busybox"
MODULES="veth bridge overlay nf_tables tun"

root=$out.d
rm -rf "$root"
mkdir -p "$root/usr/bin" "$root/usr/sbin" "$root/usr/lib" "$root/usr/lib64"
for d in bin sbin lib lib64; do ln -s "usr/$d" "$root/$d"; done
mkdir -p "$root/proc" "$root/sys" "$root/dev" "$root/run" "$root/root" "$root/etc/nsl-vm" "$root/tmp"
chmod 1777 "$root/tmp"
chmod 700 "$root/root"

# copies a host file to the same path in the guest, symlinks resolved
put() {
	[ -e "$root$1" ] && return 0
	mkdir -p "$root$(dirname "$1")"
	cp -L "$1" "$root$1"
}

# a file and the shared libraries it loads (nothing for a static one)
put_elf() {
	put "$1"
	ldd "$1" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\).*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (0x.*/\1/p' |
		while read -r lib; do put "$lib"; done
}

for c in $COMMANDS; do
	p=
	for d in /usr/bin /usr/sbin; do [ -x "$d/$c" ] && p=$d/$c && break; done
	[ -n "$p" ] || { echo "initramfs.sh: no $c in /usr/bin or /usr/sbin" >&2; exit 1; }
	put_elf "$p"
done

# Lua modules (busted and what it requires; Debian links some into 5.1)
for d in /usr/share/lua/5.4 /usr/share/lua/5.1 /usr/lib/x86_64-linux-gnu/lua/5.4; do
	[ -d "$d" ] || continue
	mkdir -p "$root$d"
	cp -rL "$d/." "$root$d/"
done
find "$root/usr/lib/x86_64-linux-gnu/lua" -name '*.so' | while read -r so; do
	put_elf "${so#"$root"}"
done

printf 'root:x:0:0:root:/root:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\n' > "$root/etc/group"
# busybox init: the guest's PID 1 after the switch to a tmpfs; it reaps
# orphans, as an init must for the specs that look for leftover processes
printf '::sysinit:/etc/nsl-vm/guest.sh\n' > "$root/etc/inittab"
ln -s ../bin/busybox "$root/usr/sbin/init"

# the kernel's modules, in load order
moddir=$(echo "$kernel"/lib/modules/*)
version=$(basename "$moddir")
"$here/modules.sh" "$moddir" $MODULES | while read -r ko; do
	dest=/usr/lib/modules/$version/$(basename "$ko")
	mkdir -p "$root$(dirname "$dest")"
	cp "$ko" "$root$dest"
	echo "$dest"
done > "$root/etc/nsl-vm/modules"

# nsl: the build, the specs and what they read
mkdir -p "$root/nsl/build"
cp -r "$build/bin" "$root/nsl/build/bin"
cp -r "$top/spec" "$top/lua" "$top/examples" "$top/.busted" "$root/nsl/"
chmod -R a+rX "$root/nsl"
cp "$runs" "$root/etc/nsl-vm/runs"
cp "$here/init" "$root/init"
cp "$here/guest.sh" "$root/etc/nsl-vm/guest.sh"
chmod 755 "$root/init" "$root/etc/nsl-vm/guest.sh"

(cd "$root" && find . | busybox cpio -o -H newc -R 0:0 2>/dev/null) > "$out.tmp"
mv "$out.tmp" "$out"
rm -rf "$root"
