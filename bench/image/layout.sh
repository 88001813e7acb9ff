#!/bin/bash
# layout.sh OUT DIR...: an OCI image layout at OUT whose layers (bottom
# first) are the given directories, each tarred (numeric owners) and
# gzipped as image builders do; Cmd /bin/true. Prints the layers'
# compressed bytes in total.
set -euo pipefail
out=$1; shift
mkdir -p "$out/blobs/sha256"
blob() { # FILE -> its digest hex, the file moved into blobs/
	local hex
	hex=$(sha256sum "$1" | cut -d' ' -f1)
	mv "$1" "$out/blobs/sha256/$hex"
	echo "$hex"
}
layers="" diffs="" total=0
for d in "$@"; do
	tar --numeric-owner -C "$d" -cf "$out/layer.tar" .
	diff=$(sha256sum "$out/layer.tar" | cut -d' ' -f1)
	gzip -n "$out/layer.tar"
	size=$(stat -c %s "$out/layer.tar.gz")
	hex=$(blob "$out/layer.tar.gz")
	total=$((total + size))
	layers="$layers${layers:+,}{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$hex\",\"size\":$size}"
	diffs="$diffs${diffs:+,}\"sha256:$diff\""
done
printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/true"]},"rootfs":{"type":"layers","diff_ids":[%s]}}' "$diffs" >"$out/c.json"
csize=$(stat -c %s "$out/c.json"); chex=$(blob "$out/c.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[%s]}' \
	"$chex" "$csize" "$layers" >"$out/m.json"
msize=$(stat -c %s "$out/m.json"); mhex=$(blob "$out/m.json")
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d}]}' \
	"$mhex" "$msize" >"$out/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' >"$out/oci-layout"
echo "$total"
