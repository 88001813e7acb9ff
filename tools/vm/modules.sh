#!/bin/sh
# Prints the .ko files that load the modules named, each after the modules
# it depends on (from each file's modinfo "depends=" field), once each:
# the order busybox insmod needs, as it resolves nothing itself.
#   tools/vm/modules.sh MODDIR MODULE...      (MODDIR: lib/modules/VERSION)
set -eu
moddir=$1
shift
done_list=" "

find_ko() {
	# module names use _ and - interchangeably
	f=$(find "$moddir/kernel" -name "$1.ko" -o -name "$(echo "$1" | tr _ -).ko" | head -n 1)
	[ -n "$f" ] || { echo "modules.sh: no $1.ko under $moddir (or a compressed one)" >&2; exit 1; }
	echo "$f"
}

load() {
	case "$done_list" in *" $1 "*) return 0 ;; esac
	done_list="$done_list$1 "
	ko=$(find_ko "$1")
	set -- "$1" "$ko"
	deps=$(tr '\0' '\n' < "$2" | sed -n 's/^depends=//p' | tr , ' ')
	for d in $deps; do load "$d"; done
	echo "$2"
}

for m in "$@"; do load "$m"; done
