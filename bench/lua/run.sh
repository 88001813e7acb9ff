#!/bin/bash
# The Lua-overhead benchmark (issue 6, part 4): what nsl.container costs
# over the C core, step by step (ladder.lua), and what one `nsl run`
# process costs before its container starts.
#
#   run.sh OUT NSL SAMPLES ROUNDS [LUA_DIR]
#
# LUA_DIR: the Lua sources NSL embeds (default: the tree's lua/).
#
# Writes OUT/lua.md: per-container medians (ms) with p10/p90, each step's
# difference to the line above it, and the ratio to the floor.
set -euo pipefail

out=$1 nsl=$(realpath "$2") samples=$3 rounds=$4
here=$(cd "$(dirname "$0")" && pwd)
luadir=$(realpath "${5:-$here/../../lua}")
drive=$out/drive
per=$(( (samples + rounds - 1) / rounds ))

tmp=$(mktemp -d /tmp/nsl-bench-lua.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$here/../start/rootfs.sh" "$tmp/root"
mkdir -p "$tmp/samples"

# The startup of one `nsl run`: nothing, then requiring nsl.container as
# the binary embeds it, then the same
# modules precompiled and stripped (luac -s), preloaded by the script (what
# embedding stripped bytecode would give).
echo 'return' >"$tmp/empty.lua"
echo 'local _ = nsl.container' >"$tmp/require.lua"
mods=""
for f in "$luadir"/nsl/*.lua; do
	m=$(basename "$f" .lua)
	[ "$m" = cli ] && continue
	luac5.4 -s -o "$tmp/$m.luac" "$f"
	mods+="\"$m\", "
done
cat >"$tmp/bytecode.lua" <<LUA
for _, m in ipairs { $mods } do
  package.preload["nsl." .. m] = assert(loadfile("$tmp/" .. m .. ".luac", "b"))
end
local _ = nsl.container
LUA

steps=(floor prim prim+nogc prim+nogc+lo prim+nogc+lo+dev prim+nogc+lo+dev+sync
       prim+nogc+lo+dev+sync+session container container+nosession container+noresolve
       container+noclose container+limits)
starts=(true empty require bytecode)

run_step() { # step count
	if [ "$1" = floor ]; then
		"$drive" ticks "$2" "$tmp/samples/$1" -- "$out/floor" -t -n "$2" "$tmp/root" /bin/true
	else
		"$drive" ticks "$2" "$tmp/samples/$1" -- "$nsl" run "$here/ladder.lua" "$tmp/root" "$2" "$1" tick
	fi
}
run_start() { # what count
	if [ "$1" = true ]; then
		"$drive" seq "$2" "$tmp/samples/start-$1" -- /bin/true
	else
		"$drive" seq "$2" "$tmp/samples/start-$1" -- "$nsl" run "$tmp/$1.lua"
	fi
}

for r in $(seq "$rounds"); do
	echo "lua: round $r of $rounds" >&2
	for s in "${steps[@]}"; do run_step "$s" "$per"; done
	for s in "${starts[@]}"; do run_start "$s" "$per"; done
done

{
	for s in "${steps[@]}"; do echo "$s $("$drive" stats "$tmp/samples/$s")"; done
	echo "--"
	for s in "${starts[@]}"; do echo "start-$s $("$drive" stats "$tmp/samples/start-$s")"; done
} >"$out/lua.txt"

awk '
BEGIN {
	d["floor"] = "floor (C)"
	d["prim"] = "nsl primitives, as bench/start/prim.lua (nsl.clone collects garbage first)"
	d["prim+nogc"] = "+ nsl.clone{collect = false}"
	d["prim+nogc+lo"] = "+ lo brought up in the child (net = \"none\")"
	d["prim+nogc+lo+dev"] = "+ nsl.container'"'"'s /dev (mknod, devpts, shm, mqueue, links)"
	d["prim+nogc+lo+dev+sync"] = "+ the ready/go/exec handshake over two pipes"
	d["prim+nogc+lo+dev+sync+session"] = "+ setsid, umask: all that nsl.container does in the kernel"
	d["container"] = "**nsl.container** (same container)"
	d["container+nosession"] = "nsl.container, hardening.new_session = false"
	d["container+noresolve"] = "nsl.container, resolve_cwd = refuse_symlinks = false"
	d["container+noclose"] = "nsl.container, close_fds = false"
	d["container+limits"] = "nsl.container, limits = {pids = 64, memory = \"64M\"} (cgroups made, joined, removed)"
	d["start-true"] = "a process: fork + exec /bin/true"
	d["start-empty"] = "`nsl run` of an empty script"
	d["start-require"] = "`nsl run`, requiring nsl.container as the binary embeds it"
	d["start-bytecode"] = "`nsl run`, the Lua layer preloaded as stripped bytecode (luac -s)"
}
$1 == "--" { part = 2; print ""; print "| one `nsl run` before any container | median ms | p10 ms | p90 ms | step ms |"; print "| --- | ---: | ---: | ---: | ---: |"; prev = ""; next }
{
	if (!part) { part = 1; print "| per container, one script for all | median ms | p10 ms | p90 ms | step ms | / floor |"; print "| --- | ---: | ---: | ---: | ---: | ---: |" }
	if ($1 == "floor") floor = $3
	step = (prev == "" || $1 ~ /^container\+/) ? "" : sprintf("%+.2f", ($3 - prev) / 1000)
	if (part == 1) printf "| %s | %.2f | %.2f | %.2f | %s | %.2f |\n", d[$1], $3 / 1000, $4 / 1000, $5 / 1000, step, $3 / floor
	else printf "| %s | %.2f | %.2f | %.2f | %s |\n", d[$1], $3 / 1000, $4 / 1000, $5 / 1000, step
	if ($1 !~ /^container\+/) prev = $3
}' "$out/lua.txt" >"$out/lua.md"
cat "$out/lua.md"
