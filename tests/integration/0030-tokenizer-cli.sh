#!/usr/bin/env bash
# gotflow tokenize: text -> ids -> text on the DeepSeek-LLM tokenizer, BOS with --special,
# a clear failure for a missing file and for a bad line.
set -euo pipefail
cd "$(dirname "$0")/../.."
tok=tests/data/deepseek-llm/tokenizer.json
bin=${GOTFLOW_BIN:-build/bin}/gotflow

out=$(printf '{"text":"Hello world"}\n' | "$bin" tokenize --tokenizer "$tok")
[ "$out" = '{"ids":[17464,1843]}' ] || { echo "encode gave $out"; exit 1; }

out=$(printf '{"text":"Hello world"}\n' | "$bin" tokenize --tokenizer "$tok" --special)
[ "$out" = '{"ids":[100000,17464,1843]}' ] || { echo "encode --special gave $out"; exit 1; }

out=$(printf '{"ids":[100000,17464,1843]}\n' | "$bin" tokenize --tokenizer "$tok" --decode)
[ "$out" = '{"text":"Hello world"}' ] || { echo "decode gave $out"; exit 1; }

out=$(printf '{"ids":[100000,17464,1843]}\n' | "$bin" tokenize --tokenizer "$tok" --decode --special)
[ "$out" = '{"text":"<｜begin▁of▁sentence｜>Hello world"}' ] || { echo "decode --special gave $out"; exit 1; }

# a bad line answers with an error and exit status 1; the good lines still get answers
set +e
out=$(printf '{"text":"a"}\nnot json\n{"text":"b"}\n' | "$bin" tokenize --tokenizer "$tok")
rc=$?
set -e
[ $rc -eq 1 ] || { echo "bad line: exit $rc"; exit 1; }
[ "$(echo "$out" | wc -l)" -eq 3 ] && echo "$out" | sed -n 2p | grep -q '"error"' ||
    { echo "bad line gave $out"; exit 1; }

# a missing tokenizer: exit 1, message naming the file; no --tokenizer: usage, exit 2
set +e
err=$("$bin" tokenize --tokenizer /nonexistent/tokenizer.json </dev/null 2>&1)
rc=$?
"$bin" tokenize </dev/null >/dev/null 2>&1
rc2=$?
set -e
[ $rc -eq 1 ] && echo "$err" | grep -q "'/nonexistent/tokenizer.json'" || { echo "missing file: $rc $err"; exit 1; }
[ $rc2 -eq 2 ] || { echo "usage error: exit $rc2"; exit 1; }
"$bin" tokenize --help | grep -q -- "--decode"
"$bin" --help | grep -q "tokenize"
echo ok
