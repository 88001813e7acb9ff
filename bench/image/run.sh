#!/bin/bash
# The images benchmark: the three goals of the images issue.
#
#   run.sh OUT NSL UNPACK_RUNS PULL_RUNS N "UNPACK_DIRS" "PULL_DIRS"
#
# 1. Unpack: one gzipped layer, a tar of the host's UNPACK_DIRS (paths
#    under /, e.g. usr/share/doc), unpacked by nsl (unpack.lua:
#    nsl.archive.unpack, what nsl.image.load and pull use) and by
#    `tar -xzf LAYER -C DIR`, into a new empty directory of the same file
#    system each run (under /var/tmp), UNPACK_RUNS of each taking turns,
#    the order turning each round; wall time, fork to reaped, median.
#    `sync` before each run. Nothing is removed before the end (the
#    trees of every run, the stores of the pulls): ext4 without a journal
#    skips the inodes deleted in the last 30 s when it allocates one,
#    reading each one's block to see (recently_deleted), so file
#    creations right after a large delete are several times slower, and
#    that would fall on whichever tool ran next.
# 2. Pull: an image of one layer per PULL_DIRS entry, from docker-registry
#    in a network namespace of its own (pull.sh): nsl.image.pull into a
#    fresh store (fetch, verify, unpack), the same with the layers
#    already unpacked (fetch and verify only), and skopeo copy to an OCI
#    layout; PULL_RUNS rounds, median.
# 3. Start (start.lua): N containers of /bin/true per mode from one
#    script, taking turns container by container: image =, the same
#    overlay from a directory, the directory bound; median.
#
# Writes OUT/image.txt (raw) and OUT/image.md (the table). Everything it
# makes lives in one temporary directory under /var/tmp, removed at the
# end.
set -euo pipefail

out=$1 nsl=$(realpath "$2") runs=$3 pruns=$4 n=$5 udirs=$6 pdirs=$7
here=$(cd "$(dirname "$0")" && pwd)
for t in skopeo docker-registry busybox tar gzip; do
	command -v "$t" >/dev/null || { echo "image: $t is not installed" >&2; exit 1; }
done

tmp=$(mktemp -d /var/tmp/nsl-bench-image.XXXXXX)
cleanup() {
	if grep -q " $tmp" /proc/self/mounts; then
		echo "image: mounts left under $tmp, not removing it" >&2
		return 1
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
raw=$tmp/raw
: >"$raw"
med() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# 1. Unpack
echo "image: making the layer (tar | gzip of $udirs)" >&2
# shellcheck disable=SC2086
tar --numeric-owner -C / -cf "$tmp/layer.tar" $udirs
entries=$(tar -tf "$tmp/layer.tar" | wc -l)
files=$(tar -tvf "$tmp/layer.tar" | grep -c '^-' || true)
mb=$(stat -c %s "$tmp/layer.tar" | awk '{ printf "%.1f", $1 / 1e6 }')
gzip -n "$tmp/layer.tar"
gzmb=$(stat -c %s "$tmp/layer.tar.gz" | awk '{ printf "%.1f", $1 / 1e6 }')
echo "layer $entries $files $mb $gzmb" >>"$raw"
mkdir "$tmp/u"
k=0
unpack() { # MODE
	k=$((k + 1))
	local d=$tmp/u/$1-$k s e
	mkdir "$d"
	sync
	s=$(date +%s%N)
	if [ "$1" = tar ]; then tar -xzf "$tmp/layer.tar.gz" -C "$d"
	else "$nsl" run "$here/unpack.lua" "$tmp/layer.tar.gz" "$d" >/dev/null; fi
	e=$(date +%s%N)
	echo "$1 $(( (e - s) / 1000 ))" | awk '{ printf "%s %.1f\n", $1, $2 / 1000 }' | tee -a "$tmp/unpack" >&2
}
# a warm-up of each (untimed): the layer read once, and whatever another
# process's deletes left for the allocator to step over
unpack tar >/dev/null 2>&1; unpack nsl >/dev/null 2>&1; : >"$tmp/unpack"
for r in $(seq "$runs"); do
	if [ $((r % 2)) = 1 ]; then unpack tar; unpack nsl; else unpack nsl; unpack tar; fi
done
# the two trees the same: names, types, sizes, modes
a=$tmp/u/tar-1 b=$tmp/u/nsl-2
if ! diff <(cd "$a" && find . -printf '%p %y %s %m\n' | sort) <(cd "$b" && find . -printf '%p %y %s %m\n' | sort) >/dev/null; then
	echo "image: nsl's tree differs from tar's" >&2; exit 1
fi
for m in tar nsl; do echo "unpack-$m $(awk -v m=$m '$1 == m { print $2 }' "$tmp/unpack" | med)" >>"$raw"; done
rm "$tmp/layer.tar.gz"

# 2. Pull
echo "image: pull, $pruns rounds (an image of: $pdirs)" >&2
mkdir "$tmp/p"
layers=()
for d in $pdirs; do
	l=$tmp/p/l-$(( ${#layers[@]} + 1 ))
	mkdir -p "$l/$(dirname "$d")"
	cp -a "/$d" "$l/$(dirname "$d")/"
	layers+=("$l")
done
pbytes=$("$here/layout.sh" "$tmp/p/layout" "${layers[@]}")
psize=$(du -sm --apparent-size "${layers[@]}" | awk '{ s += $1 } END { print s }')
echo "pull-image ${#layers[@]} $(echo "$pbytes" | awk '{ printf "%.1f", $1 / 1e6 }') $psize" >>"$raw"
unshare -n bash "$here/pull.sh" "$tmp/p" "$nsl" "$here" "$tmp/p/layout" "$pruns" | tee "$tmp/pull" >&2
for m in nsl-full nsl-fetch skopeo skopeo-tar; do echo "pull-$m $(awk -v m=$m '$1 == m { print $2 }' "$tmp/pull" | med)" >>"$raw"; done

# 3. Start
echo "image: start, $n containers per mode" >&2
mkdir -m 700 "$tmp/s" "$tmp/s/store"
NSL_IMAGE_STORE=$tmp/s/store "$nsl" run "$here/start.lua" "$tmp/s" "$n" "$here/layout.sh" | sed 's/^/start-/' >>"$raw"

cp "$raw" "$out/image.txt"
awk -v runs="$runs" -v pruns="$pruns" -v n="$n" -v udirs="$udirs" -v pdirs="$pdirs" '
{ v[$1] = $2 }
$1 == "layer" { entries = $2; files = $3; mb = $4; gzmb = $5 }
$1 == "pull-image" { nl = $2; pmb = $3; pun = $4 }
function met(x) { return x ? "**met**" : "**not met**" }
END {
	r1 = v["unpack-nsl"] / v["unpack-tar"]
	print "| 1. unpack one layer into an empty directory (same file system), median of " runs " | ms | nsl / peer |"
	print "| --- | ---: | ---: |"
	printf "| `tar -xzf` (%s: %d entries, %d files, %s MB, %s MB gzipped) | %.0f | |\n", udirs, entries, files, mb, gzmb, v["unpack-tar"]
	printf "| nsl (`nsl.archive.unpack`, one `nsl run`) | %.0f | %.2fx |\n", v["unpack-nsl"], r1
	print ""
	r2 = v["pull-nsl-full"] / v["pull-skopeo"]; r2f = v["pull-nsl-fetch"] / v["pull-skopeo"]
	printf "| 2. pull %d layers, %s MB gzipped (%s MB unpacked), from a local registry, median of %d | ms | nsl / skopeo |\n", nl, pmb, pun, pruns
	print "| --- | ---: | ---: |"
	printf "| `skopeo copy docker://... oci:DIR` (fetch, verify; no unpack) | %.0f | |\n", v["pull-skopeo"]
	printf "| `nsl.image.pull` into a fresh store (fetch, verify, unpack) | %.0f | %.2fx |\n", v["pull-nsl-full"], r2
	printf "| `nsl.image.pull`, the layers already unpacked in the store (fetch, verify) | %.0f | %.2fx |\n", v["pull-nsl-fetch"], r2f
	printf "| `skopeo copy`, then `tar -xzf` of each layer into one directory (a root, as nsl leaves one) | %.0f | %.2fx |\n", v["pull-skopeo-tar"], v["pull-nsl-full"] / v["pull-skopeo-tar"]
	printf "| nsl.image.pull: its unpack (the fresh store less the one with the layers) | %.0f | |\n", v["pull-nsl-full"] - v["pull-nsl-fetch"]
	print ""
	r3 = v["start-image"] / v["start-dir"]; r3o = v["start-image"] / v["start-overlay"]
	printf "| 3. start `/bin/true` from busybox, one script, %d per mode taking turns, median | ms | image / mode |\n", n
	print "| --- | ---: | ---: |"
	printf "| `rootfs = dir` (bound, no overlay) | %.2f | %.2fx |\n", v["start-dir"], r3
	printf "| `rootfs = {image = dir, writable = true}` (one lower, tmpfs upper) | %.2f | %.2fx |\n", v["start-overlay"], r3o
	printf "| `image = \"bench/busybox:1\"` (the same directory as a one-layer image) | %.2f | 1.00x |\n", v["start-image"]
	printf "| the same, `nsl.image.inspect` memoized in the script | %.2f | |\n", v["start-image-memo"]
	print ""
	printf "Per call, median of 200: `nsl.image.inspect` %.3f ms, `nsl.image.container_spec` %.3f ms, the store'"'"'s root made and checked %.3f ms.\n", v["start-inspect"], v["start-container_spec"], v["start-store_root"]
	print ""
	print "| goal | result | |"
	print "| --- | --- | --- |"
	printf "| unpack at least as fast as `tar -xzf` | %.2fx tar | %s |\n", r1, met(r1 <= 1)
	printf "| pull no slower than `skopeo copy` to an OCI layout | %.2fx with the unpack, %.2fx fetch and verify only; with the unpack %.2fx skopeo + `tar -xzf` | %s as a whole; %s for the fetch |\n", r2, r2f, v["pull-nsl-full"] / v["pull-skopeo-tar"], met(r2 <= 1), met(r2f <= 1)
	printf "| a container from an image within 1.2x one from a plain directory | %.2fx the bound directory, %.2fx the same overlay from a directory | %s against the bound directory; %s against the overlay |\n", r3, r3o, met(r3 <= 1.2), met(r3o <= 1.2)
}' "$out/image.txt" >"$out/image.md"
cat "$out/image.md"
