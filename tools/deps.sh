#!/bin/sh
# Installs the Debian packages nsl needs to build, test and run its
# examples, when any is missing. Asks nothing; does nothing when all are there.
set -eu

# libc6-dev: also libc.a, for the static nsl-monitor (gcc only recommends it)
PACKAGES="make gcc libc6-dev pkg-config lua5.4 liblua5.4-dev libnl-3-dev libnl-route-3-dev
libcap-dev libseccomp-dev libarchive-dev nettle-dev libcurl4-openssl-dev lua-cjson lua-busted busybox-static iproute2 util-linux procps iputils-ping groff-base attr
skopeo docker-registry podman umoci
clang libclang-rt-14-dev
${NSL_EXTRA_PACKAGES:-}"

missing=""
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "nsl: missing Debian packages:$missing" >&2
	echo "nsl: run this as root, or: sudo apt-get install$missing" >&2
	exit 1
fi
echo "nsl: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends $missing >/dev/null
