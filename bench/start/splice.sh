#!/bin/sh
# splice.sh DOC NAME FILE: replaces what DOC holds between the lines
# "<!-- bench:NAME -->" and "<!-- /bench:NAME -->" with FILE.
set -eu
doc=$1 name=$2 file=$3
grep -q "^<!-- bench:$name -->\$" "$doc" || { echo "splice: $doc has no <!-- bench:$name --> block" >&2; exit 1; }
awk -v name="$name" -v file="$file" '
	$0 == "<!-- bench:" name " -->" { print; while ((getline line < file) > 0) print line; skip = 1; next }
	$0 == "<!-- /bench:" name " -->" { skip = 0 }
	!skip' "$doc" >"$doc.tmp"
mv "$doc.tmp" "$doc"
