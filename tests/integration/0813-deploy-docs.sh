#!/usr/bin/env bash
# Every command of docs/deploy.md's shell blocks that can run without a cluster runs as written,
# in a scratch folder holding links to the repository's models/ and pipelines/; each must exit 0
# and write what the page says it writes:
#   gotflow deploy ... --help     usage on stdout
#   gotflow deploy slurm          the script (--out, executable) with the #SBATCH lines the page
#                                 names: one node and one task per graph host
#   gotflow deploy resolve        the graph (0600) with the page's addresses, gateway bind and a
#                                 curve_public per host matching keys/HOST.key (0600); it loads
#   gotflow deploy k8s            the files of the page's table, HOST for each graph host, the
#                                 Secret's file 0600
# The blocks are extracted from the page, not copied here. Skipped, with why: `sbatch`, `kubectl`,
# `docker` and `--submit` need a cluster, a registry or a container engine (0811 and 0812 run the
# Slurm job on a real Slurm; 0810 validates the manifests against the Kubernetes schemas).
. "$(dirname "$0")/lib.sh"
cd "$top"
scratch=$work/docs
mkdir -p "$scratch"
for d in models pipelines; do ln -s "$top/$d" "$scratch/$d"; done
$PY - "$top/docs/deploy.md" "$scratch" <<'PY'
import os, re, shlex, stat, subprocess, sys, yaml
page, scratch = sys.argv[1:3]
text = open(page, encoding="utf-8").read()
blocks = re.findall(r"^```sh\n(.*?)^```", text, re.S | re.M)
commands = []
for b in blocks:
    for line in re.sub(r"\\\n\s*", " ", b).splitlines():
        line = re.sub(r"\s+#.*$", "", line).strip()
        if line and not line.startswith("#"):
            commands.append(line)
assert commands, "no sh blocks in docs/deploy.md"
# the page's Kubernetes table: its file names, HOST standing for each graph host
k8s_files = re.findall(r"^\| `([a-z-]+(?:HOST)?[a-z-]*\.yaml)`", text, re.M)
assert "statefulset-HOST.yaml" in k8s_files and "secret-keys.yaml" in k8s_files, k8s_files

def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)

def hosts_of(graph):
    g = yaml.safe_load(open(os.path.join(scratch, graph)))
    return sorted(g.get("hosts") or {"main": None}), g

def opt(argv, name, default=None):
    for i, a in enumerate(argv):
        if a == name:
            return argv[i + 1]
        if a.startswith(name + "="):
            return a[len(name) + 1:]
    return default

ran, skipped = 0, []
for cmd in commands:
    argv = shlex.split(cmd)
    if argv[0] in ("sbatch", "kubectl", "docker") or "--submit" in argv:
        skipped.append(cmd)
        continue
    assert argv[:2] == ["gotflow", "deploy"], "an example the test does not know: %r" % cmd
    p = subprocess.run(cmd, shell=True, cwd=scratch, capture_output=True, text=True)
    assert p.returncode == 0, (cmd, p.returncode, p.stderr)
    ran += 1
    if "--help" in argv:
        assert p.stdout.startswith("usage: gotflow deploy"), (cmd, p.stdout[:200])
        print("ok: %s" % cmd)
        continue
    target, graph = argv[2], argv[3]
    hosts, g = hosts_of(graph)
    if target == "slurm":
        out = os.path.join(scratch, opt(argv, "--out", g["name"] + ".sbatch"))
        assert mode(out) & 0o100, "%s: the script is not executable" % cmd
        script = open(out).read()
        assert script.startswith("#!/bin/bash\n"), cmd
        for line in ("#SBATCH --nodes=%d" % len(hosts), "#SBATCH --ntasks-per-node=1"):
            assert line in script.splitlines(), (cmd, line)
    elif target == "resolve":
        out = os.path.join(scratch, opt(argv, "--out"))
        assert mode(out) == 0o600, (cmd, oct(mode(out)))
        r = yaml.safe_load(open(out))
        want = dict(v.split("=", 1) for k, v in zip(argv, argv[1:]) if k == "--address")
        assert want and {h: r["hosts"][h]["address"] for h in want} == want, (cmd, r["hosts"])
        assert r["stages"]["gateway"]["bind"] == opt(argv, "--gateway-bind"), r["stages"]["gateway"]
        keys = os.path.join(scratch, opt(argv, "--key-dir"))
        for h in hosts:
            key = os.path.join(keys, h + ".key")
            assert mode(key) == 0o600, (key, oct(mode(key)))
            pub = open(key).read().split("\n")[0].split(": ", 1)[1]
            assert r["hosts"][h]["curve_public"] == pub, h
        subprocess.run(["gotflow", "check", out], check=True, stdout=subprocess.DEVNULL)
    elif target == "k8s":
        out = os.path.join(scratch, opt(argv, "--out", "k8s-" + g["name"]))
        want = set()
        for f in k8s_files:
            want |= {f.replace("HOST", h) for h in hosts} if "HOST" in f else {f}
        assert set(os.listdir(out)) == want, (cmd, sorted(os.listdir(out)), sorted(want))
        assert mode(os.path.join(out, "secret-keys.yaml")) == 0o600, cmd
        sts = yaml.safe_load(open(os.path.join(out, "statefulset-%s.yaml" % hosts[0])))
        image = opt(argv, "--image")
        if image:
            assert sts["spec"]["template"]["spec"]["containers"][0]["image"] == image, cmd
    else:
        raise AssertionError("an example the test does not know: %r" % cmd)
    print("ok: %s" % cmd)
assert ran >= 5, "only %d examples ran" % ran
for cmd in skipped:
    print("skipped (needs a cluster): %s" % cmd)
PY
