#!/bin/bash
# pull.sh TMP NSL HERE LAYOUT RUNS, run by run.sh under `unshare -n` (a
# network namespace of its own: the registry and every pull stay on its
# loopback). Starts docker-registry (storage under TMP/reg), pushes the
# layout as 127.0.0.1:5000/bench/x:1 with skopeo, then RUNS rounds, the
# order turning each round, of
#   nsl-full   nsl.image.pull into a fresh store: fetch, verify, unpack
#   nsl-fetch  the same into a fresh store whose layers/ already holds
#              the image's layers unpacked (moved in before, out after):
#              fetch and verify only, as skopeo does
#   skopeo     skopeo copy --src-tls-verify=false docker://... oci:DIR
#              into a fresh directory
#   skopeo-tar the same, then tar -xzf of each layer (the manifest's
#              order) into DIR/rootfs: a root to run, as nsl's pull
#              leaves one (no whiteouts in this image to apply)
# after one untimed pull of each (warm-up; it also fills the layers that
# nsl-fetch moves in). Prints "MODE MS" per run (wall time, fork to
# reaped). Stores and directories are kept until the end (run.sh removes
# TMP): deleting tens of thousands of inodes just before a run slows the
# next one's file creation on ext4.
set -euo pipefail
tmp=$1 nsl=$2 here=$3 layout=$4 runs=$5
ref=127.0.0.1:5000/bench/x:1
ip link set lo up
mkdir -p "$tmp/reg"
cat >"$tmp/reg/config.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $tmp/reg/data
http:
  addr: 127.0.0.1:5000
YML
docker-registry serve "$tmp/reg/config.yml" >"$tmp/reg/log" 2>&1 &
regpid=$!
trap 'kill $regpid 2>/dev/null; wait $regpid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
	busybox wget -q -O /dev/null http://127.0.0.1:5000/v2/ 2>/dev/null && break
	sleep 0.1
done
skopeo copy -q --dest-tls-verify=false "oci:$layout" "docker://$ref" >/dev/null

now() { date +%s%N; }
k=0
one() { # MODE -> prints "MODE MS"
	local d s e
	k=$((k + 1)); d=$tmp/$1-$k
	case $1 in
	nsl-full)
		mkdir -m 700 "$d"
		s=$(now); NSL_IMAGE_STORE=$d "$nsl" run "$here/pull.lua" "$ref" >/dev/null; e=$(now) ;;
	nsl-fetch)
		mkdir -m 700 "$d"; mv "$tmp/layers-cache" "$d/layers"
		s=$(now); NSL_IMAGE_STORE=$d "$nsl" run "$here/pull.lua" "$ref" >/dev/null; e=$(now)
		mv "$d/layers" "$tmp/layers-cache" ;;
	skopeo)
		s=$(now); skopeo copy -q --src-tls-verify=false "docker://$ref" "oci:$d" >/dev/null; e=$(now)
		test -f "$d/index.json" ;;
	skopeo-tar)
		s=$(now)
		skopeo copy -q --src-tls-verify=false "docker://$ref" "oci:$d" >/dev/null
		mkdir "$d/rootfs"
		local m l
		m=$(grep -o 'sha256:[0-9a-f]*' "$d/index.json" | head -1)
		for l in $(grep -o '"digest":"sha256:[0-9a-f]*"' "$d/blobs/sha256/${m#sha256:}" | tail -n +2 | cut -d: -f3 | tr -d '"'); do
			tar -xzf "$d/blobs/sha256/$l" -C "$d/rootfs"
		done
		e=$(now) ;;
	esac
	echo "$1 $(( (e - s) / 1000 ))" | awk '{ printf "%s %.1f\n", $1, $2 / 1000 }'
}

# warm-up: the registry's blobs read once; the layers nsl-fetch reuses
w=$tmp/warm-nsl; mkdir -m 700 "$w"
NSL_IMAGE_STORE=$w "$nsl" run "$here/pull.lua" "$ref" >/dev/null
mv "$w/layers" "$tmp/layers-cache"
skopeo copy -q --src-tls-verify=false "docker://$ref" "oci:$tmp/warm-skopeo" >/dev/null

modes=(nsl-full skopeo nsl-fetch skopeo-tar)
for r in $(seq "$runs"); do
	for i in 0 1 2 3; do
		m=${modes[$(( (i + r) % 4 ))]}
		sync
		one "$m"
	done
done
