#!/usr/bin/env bash
# Every command of README.md and docs/quickstart.md runs as written and prints what the docs show.
# The shell blocks are extracted from the two files (not copied here), run in a scratch folder
# holding the repository's build/, models/, pipelines/ and tests/ (links), and each must exit 0;
# where a doc shows a session (`$ command` lines followed by output), every output line it shows
# must have a line of the same shape in what the session printed (numbers, ids and times aside;
# JSON lines by their kind, id and keys).
# Skipped, with why:
#   README "The two commands" (make run, make test) and quickstart's `make deps`/`make`/`make test`
#     block and its `make run` block: they are this test's own harness (the build must exist,
#     and `make test` runs this test);
#   README's `make` line of "Using it": the build already exists;
#   README's MODEL=/path/to/GoT-R1-1B block: needs a downloaded checkpoint;
#   the changes made to commands: quickstart's GOTFLOW_RUN_ROOT=/tmp/docs-run becomes a folder of
#     this test, so that runs never meet; a `gotflow submit` whose shown answers include an error
#     may exit 1, as the page says it does.
. "$(dirname "$0")/lib.sh"
cd "$top"
[ -f models/got-r1-demo/model.safetensors ] || skip "the demo model is not in models/got-r1-demo"
scratch=$work/docs
mkdir -p "$scratch"
for d in build models pipelines tests; do ln -s "$top/$d" "$scratch/$d"; done
unset GOTFLOW_STAGE_PATH
$PY - "$top" "$scratch" "$work/docs-run" <<'PY'
import json, os, re, sys
top, scratch, run_root = sys.argv[1:4]

def blocks(path):
    """(lang, text, heading) of every fenced block."""
    out, heading, lang, buf = [], "", None, []
    for line in open(os.path.join(top, path), encoding="utf-8"):
        if lang is None and line.startswith("#"):
            heading = line.strip("# \n")
        if line.startswith("```"):
            if lang is None:
                lang, buf = line[3:].strip(), []
            else:
                out.append((lang, "".join(buf), heading))
                lang = None
            continue
        if lang is not None:
            buf.append(line)
    return out

readme = blocks("README.md")
quick = blocks("docs/quickstart.md")
parts, expected = [], []
# README: "Using it", and the generate example with the demo model
using = [t for lang, t, h in readme if lang == "sh" and h == "Using it"]
assert len(using) == 1, "README has no 'Using it' sh block"
parts.append(("README Using it", "\n".join(l for l in using[0].splitlines()
                                             if not re.match(r"^make\s", l + " "))))
gen = [t for lang, t, h in readme if lang == "sh" and "gotflow generate" in t and "MODEL=" not in t
       and "--model" not in t]
assert len(gen) == 1, "README has no generate example with the demo model: %r" % gen
parts.append(("README generate", gen[0]))
# quickstart: everything but the make blocks, in order
for lang, t, h in quick:
    if lang == "sh" and re.search(r"^make\b", t, re.M):
        continue
    if lang == "sh":
        parts.append(("quickstart " + h, t.replace("/tmp/docs-run", run_root)))
    elif lang == "yaml":
        parts.append(("quickstart demo.yaml", "cat >demo.yaml <<'YAML'\n" + t + "YAML"))
    elif lang == "" and re.search(r"^\$ ", t, re.M):
        cmds = []
        for l in t.splitlines():
            if l.startswith("$ "):
                cmds.append(l[2:])
            else:
                expected.append(l.replace("/tmp/docs-run", run_root))
                # submit exits 1 when an answer is an error, as the page says
                if '"kind":"error"' in l and "gotflow submit" in cmds[-1] and "||" not in cmds[-1]:
                    cmds[-1] += " || [ $? = 1 ]"
        parts.append(("quickstart session", "\n".join(cmds).replace("/tmp/docs-run", run_root)))
# one shell per page (README's two blocks each in their own), as a reader would run them: job
# numbers like %1 count from each shell's start
scripts = {"1-readme-using.sh": [], "2-readme-generate.sh": [], "3-quickstart.sh": []}
for name, text in parts:
    key = ("1-readme-using.sh" if name == "README Using it" else
           "2-readme-generate.sh" if name == "README generate" else "3-quickstart.sh")
    scripts[key].append("echo '### %s' >&2\n%s\n" % (name, text))
for key, texts in scripts.items():
    with open(os.path.join(scratch, key), "w") as f:
        f.write("set -euo pipefail\n" + "".join(texts) + "wait\n")
json.dump(expected, open(os.path.join(scratch, "expected.json"), "w"))
PY
cd "$scratch"
start=$(date +%s)
for f in [0-9]-*.sh; do
    timeout 60 bash -x "$f" >>out.txt 2>&1 ||
        { tail -30 out.txt; fail "a documented command failed (see above; script: $f)"; }
done
grep -q "^wrote out/.*image_0.png reasoning.txt layout.json layout.png overlay.png meta.json" out.txt ||
    fail "generate did not write its files: $(grep -n wrote out.txt)"
[ "$(ls out | wc -l)" -ge 2 ] || fail "expected two generate outputs in out/"
$PY - out.txt expected.json <<'PY'
import json, re, sys
def shape(line):
    line = line.strip()
    if line.startswith("{"):
        try:
            j = json.loads(line)
        except ValueError:
            return ("bad json", line[:40])
        inner = j.get("frame", j)
        rid = inner.get("id", "")
        rid = rid if re.match(r"^[a-z]\d$", rid) else "ID"
        return ("json", inner.get("kind"), rid, tuple(sorted(j)), tuple(sorted(inner)))
    line = re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+Z", "T", line)
    line = re.sub(r"\d+(\.\d+)?", "N", line)
    return ("text", re.sub(r"\s+", " ", line))
got = {}
for l in open(sys.argv[1], encoding="utf-8", errors="replace"):
    got.setdefault(shape(l), 0)
    got[shape(l)] += 1
missing = [e for e in json.load(open(sys.argv[2])) if e.strip() and shape(e) not in got]
assert not missing, "documented output not seen:\n" + "\n".join(m[:160] for m in missing)
print("%d documented output lines matched" % len(json.load(open(sys.argv[2]))))
PY
echo "README and quickstart commands ran in $(($(date +%s) - start)) s"
