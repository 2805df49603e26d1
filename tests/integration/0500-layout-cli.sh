#!/usr/bin/env bash
# gotflow layout: the real chains give their objects as text and JSON, the pictures are PNGs of
# the asked size, malformed chains give issues (not failures), bad usage exits 2.
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gf=${GOTFLOW_BIN:-build/bin}/gotflow

"$gf" layout --help | grep -q 'usage: gotflow layout'
"$gf" --help | grep -q '^  layout '

# the 1B chain: five objects, as text, as JSON from standard input, and as a 384x384 picture
"$gf" layout tests/data/reasoning-1B.txt --png "$tmp/1b.png" >"$tmp/1b.txt"
grep -q '5 objects, 0 issues' "$tmp/1b.txt"
grep -q "(36,66),(907,694) .* 'vibrant red tulip bouquet'" "$tmp/1b.txt"
"$gf" layout --json - <tests/data/reasoning-1B.txt >"$tmp/1b.json"
[ "$(jq -c '[.objects[].phrase]' "$tmp/1b.json")" = \
    '["vibrant red tulip bouquet","yellow vase","tablecloth","floral pattern","teal vase"]' ]
[ "$(jq -c '.objects[2]' "$tmp/1b.json")" = \
    '{"phrase":"tablecloth","box":[0,643,997,997],"span":[219,295]}' ]
[ "$(jq '.issues | length' "$tmp/1b.json")" = 0 ]
size() { od -An -tu1 -j16 -N8 "$1" | awk '{print $3*256+$4 "x" $7*256+$8}'; }
[ "$(head -c 8 "$tmp/1b.png" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ]
[ "$(size "$tmp/1b.png")" = 384x384 ]

# the 7B chain over that picture, and a larger canvas
"$gf" layout tests/data/reasoning-7B.txt --image "$tmp/1b.png" --overlay "$tmp/over.png" \
    --png "$tmp/7b.png" --size 512 >/dev/null
[ "$(size "$tmp/over.png")" = 384x384 ]
[ "$(size "$tmp/7b.png")" = 512x512 ]

# a damaged chain: issues with spans, exit 0
printf 'A <|obj_start|>cat<|obj_end|> <|box_start|>(1,2),(3)<|box_end|> <|obj_start|>do' |
    "$gf" layout --json >"$tmp/bad.json"
[ "$(jq -c '[.issues[] | [.what, .span[0], .span[1]]]' "$tmp/bad.json")" = \
    '[["wrong_count",2,63],["truncated",64,79]]' ]

# usage errors exit 2, missing files exit 1
rc=0; "$gf" layout --image "$tmp/1b.png" 2>/dev/null || rc=$?; [ $rc = 2 ]
rc=0; "$gf" layout --size 3 tests/data/reasoning-1B.txt 2>/dev/null || rc=$?; [ $rc = 2 ]
rc=0; "$gf" layout a b 2>/dev/null || rc=$?; [ $rc = 2 ]
rc=0; "$gf" layout - - </dev/null 2>/dev/null || rc=$?; [ $rc = 2 ]
rc=0; "$gf" layout "$tmp/none.txt" 2>/dev/null || rc=$?; [ $rc = 1 ]
rc=0; "$gf" layout tests/data/reasoning-1B.txt --image tests/data/reasoning-1B.txt \
    --overlay "$tmp/x.png" >/dev/null 2>&1 || rc=$?
[ $rc = 1 ]
echo ok
