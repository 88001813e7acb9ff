#!/bin/sh
# Fetches Debian 12's current cloud kernel into the cache directory CACHE
# (once) and prints the directory it was unpacked in: boot/vmlinuz-* and
# lib/modules/*/. The package is whatever linux-image-cloud-amd64 depends
# on now (linux-image-6.1.0-N-cloud-amd64), so a version that left the
# archive is never asked for.
#   tools/vm/kernel.sh CACHE
set -eu
cache=$1
meta=linux-image-cloud-amd64

resolve() {
	apt-cache depends "$meta" 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9].*-cloud-amd64\)$/\1/p' | head -n 1
}

pkg=$(resolve)
if [ -z "$pkg" ]; then
	# no package lists yet (a fresh machine): read them once
	apt-get update -q >/dev/null
	pkg=$(resolve)
fi
[ -n "$pkg" ] || { echo "kernel.sh: $meta names no kernel package" >&2; exit 1; }

dir=$cache/$pkg
if [ ! -d "$dir" ]; then
	tmp=$cache/$pkg.tmp
	rm -rf "$tmp"
	mkdir -p "$tmp"
	# apt's _apt user must be able to write where it downloads
	chmod 755 "$tmp"
	# stale lists may name a version the archive no longer has: refresh once
	(cd "$tmp" && apt-get download -q "$pkg" >/dev/null 2>&1) ||
		{ apt-get update -q >/dev/null && (cd "$tmp" && apt-get download -q "$pkg" >/dev/null); }
	dpkg -x "$tmp"/"$pkg"_*.deb "$tmp/unpacked"
	mv "$tmp/unpacked" "$dir"
	rm -rf "$tmp"
fi
echo "$dir"
