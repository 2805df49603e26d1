#!/usr/bin/env bash
# Generation defaults travel with the checkpoint (generation_config.json, docs/model.md): with no
# flag, `gotflow generate` gives the same chain and picture bytes as with the checkpoint's values
# spelt out as flags; a flag is over the file, a graph stage param is over the file, a request's
# params are over the graph's; a checkpoint without the file keeps GoT-R1's defaults (cfg 5,
# temperature 1); a malformed file is refused, naming the file and the key.
. "$(dirname "$0")/lib.sh"
cd "$top"
ck=$work/ck
mkmodel --out "$ck" --vq-ch 32 --image-size 128 --patch-size 16 >/dev/null
cat >"$ck/generation_config.json" <<'JSON'
{"text_temperature": 0, "image_temperature": 0, "cfg_weight": 1.5, "max_tokens": 24,
 "transformers_version": "4.38.2"}
JSON
graph() { # graph NAME MODEL [IMAGEGEN_PARAMS]: the CPU graph on MODEL
    sed -e "s|^model:.*|model: \"$2\"|" -e "s|^name:.*|name: $1|" pipelines/got-r1-cpu.yaml \
        >"$work/$1.yaml"
    [ -z "${3:-}" ] || sed -i "s|imagegen: {kind: imagegen, batch: 4}|imagegen: {kind: imagegen, batch: 4, params: {$3}}|" "$work/$1.yaml"
}
gen() { # gen GRAPH ID ARGS...: one picture on the running GRAPH
    local g=$1 id=$2
    shift 2
    gotflow generate "a red circle to the left of a blue square" --pipeline "$work/$g.yaml" \
        --out "$work/out" --id "$id" --json "$@" >"$work/$id.json" 2>"$work/$id.err" ||
        fail "generate $id failed: $(tail -3 "$work/$id.err")"
}
same() { # same A B: the same chain and the same PNG bytes
    cmp -s "$work/out/$1/reasoning.txt" "$work/out/$2/reasoning.txt" || fail "$1 and $2: the chains differ"
    cmp -s "$work/out/$1/image_0.png" "$work/out/$2/image_0.png" || fail "$1 and $2: the pictures differ"
}
differ() {
    cmp -s "$work/out/$1/image_0.png" "$work/out/$2/image_0.png" && fail "$1 and $2: the same picture" || true
}
param() { jq -r ".params.$2" "$work/out/$1/meta.json"; }

graph file "$ck"
start_pipeline "$work/file.yaml"
gen file plain --seed 1
gen file spelt --seed 1 --text-temperature 0 --image-temperature 0 --cfg-weight 1.5 --max-tokens 24
same plain spelt
gen file seed2 --seed 2
same plain seed2 # greedy, from the file: the seed does not matter
[ "$(param plain cfg_weight)" = 1.5 ] && [ "$(param plain text_temperature)" = 0 ] &&
    [ "$(param plain image_temperature)" = 0 ] && [ "$(param plain max_tokens)" = 24 ] ||
    fail "meta.json does not record the checkpoint's defaults: $(jq -c .params "$work/out/plain/meta.json")"
# a flag is over the file
gen file cfg5 --seed 1 --cfg-weight 5
differ plain cfg5
[ "$(param cfg5 cfg_weight)" = 5 ] || fail "meta.json: cfg_weight $(param cfg5 cfg_weight), not 5"
gen file warm1 --seed 1 --text-temperature 1
gen file warm2 --seed 2 --text-temperature 1
cmp -s "$work/out/warm1/reasoning.txt" "$work/out/warm2/reasoning.txt" &&
    fail "--text-temperature 1 did not sample (two seeds, one chain)"
# a request's params are over the file (gotflow submit: the same request as cfg5)
echo '{"id": "req5", "text": "a red circle to the left of a blue square", "params": {"seed": 1, "cfg_weight": 5}}' |
    gotflow submit "$work/file.yaml" --max-bin -1 >"$work/req5.jsonl" || fail "submit failed"
$PY - "$work/req5.jsonl" "$work/out/cfg5/image_0.png" <<'PY'
import base64, json, sys
a = json.loads(open(sys.argv[1]).readline())
png = base64.b64decode(a["png"][0]["$bin"])
assert png == open(sys.argv[2], "rb").read(), "the request's cfg_weight 5 did not give the flag's picture"
PY
stop_pipeline

# a graph stage param is over the file, a flag over the graph
graph staged "$ck" "cfg_weight: 5"
start_pipeline "$work/staged.yaml"
gen staged staged5 --seed 1
same cfg5 staged5
[ "$(param staged5 cfg_weight)" = 5 ] || fail "meta.json: cfg_weight $(param staged5 cfg_weight) under the graph's 5"
gen staged staged15 --seed 1 --cfg-weight 1.5
same plain staged15
stop_pipeline

# no generation_config.json: GoT-R1's defaults
bare=$work/bare
mkmodel --out "$bare" --vq-ch 32 --image-size 128 --patch-size 16 >/dev/null
graph bare "$bare"
start_pipeline "$work/bare.yaml"
gen bare bare --seed 3 --max-tokens 24
gen bare bare_spelt --seed 3 --max-tokens 24 --text-temperature 1 --image-temperature 1 --cfg-weight 5
same bare bare_spelt
[ "$(param bare cfg_weight)" = 5 ] && [ "$(param bare text_temperature)" = 1 ] ||
    fail "meta.json without generation_config.json: $(jq -c .params "$work/out/bare/meta.json")"
stop_pipeline

# a malformed file: refused, naming the file and the key
echo '{"cfg_weight": "high"}' >"$ck/generation_config.json"
set +e
gotflow generate "a red circle" --pipeline "$work/file.yaml" --out "$work/out" >"$work/bad.txt" 2>&1
rc=$?
set -e
[ $rc = 1 ] || fail "exit status $rc on a malformed generation_config.json"
grep -q "$ck/generation_config.json': 'cfg_weight' must be a number" "$work/bad.txt" ||
    fail "the error does not name the file and the key: $(cat "$work/bad.txt")"
echo '{"cfg_weight": 1.5,' >"$ck/generation_config.json"
gotflow generate "a red circle" --pipeline "$work/file.yaml" --out "$work/out" >"$work/bad2.txt" 2>&1 &&
    fail "a generation_config.json that is not JSON was accepted"
grep -q "$ck/generation_config.json': not JSON" "$work/bad2.txt" || fail "no clear error: $(cat "$work/bad2.txt")"
echo "defaults from the checkpoint, under graph params, flags and request params"
