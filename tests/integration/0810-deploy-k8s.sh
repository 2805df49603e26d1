#!/usr/bin/env bash
# `gotflow deploy k8s` for the scaled graph (one host, four GPUs) and the two-host example: every
# manifest passes the Kubernetes schemas (kubernetes-validate from PyPI, strict: no unknown
# field), the graph in the ConfigMap loads as it is, the Secret's keys are the graph's
# curve_public keys, GPUs and addresses come from the graph. Not a real cluster.
. "$(dirname "$0")/lib.sh"
venv=$top/build/venv-test
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
    python3 -m venv "$venv" >/dev/null 2>&1 || skip "cannot make a Python virtualenv (python3-venv)"
    timeout 300 "$venv/bin/pip" install -q kubernetes-validate >"$work/pip.log" 2>&1 ||
        skip "cannot install kubernetes-validate from PyPI (offline?)"
fi
gotflow deploy --help | grep -q 'gotflow deploy k8s' || fail "deploy --help"
gotflow deploy k8s --help | grep -q -- '--image' || fail "deploy k8s --help"
set +e
gotflow deploy k8s "$top/pipelines/got-r1-scaled.yaml" --node-selector nokey >/dev/null 2>&1
[ $? = 2 ] || fail "a bad --node-selector is not a usage error"
set -e
gotflow deploy k8s "$top/pipelines/got-r1-scaled.yaml" --out "$work/scaled" --image reg.example/gotflow:1 >/dev/null
gotflow deploy k8s "$top/pipelines/deploy-two-hosts.yaml" --out "$work/two" --namespace ml \
    --node-selector b:pool=big --node-selector zone=z1 >/dev/null
[ "$(stat -c %a "$work/two/secret-keys.yaml")" = 600 ] || fail "the Secret's file is readable by others"
"$venv/bin/kubernetes-validate" --strict "$work"/scaled/*.yaml "$work"/two/*.yaml >"$work/kv.log" 2>&1 ||
    { cat "$work/kv.log"; fail "kubernetes-validate refused a manifest"; }
cat "$work/kv.log"
# the schemas are really applied: an unknown field is refused
sed 's/^  serviceName:/  serviceNam:/' "$work/two/statefulset-a.yaml" >"$work/bad.yaml"
! "$venv/bin/kubernetes-validate" --strict "$work/bad.yaml" >/dev/null 2>&1 || fail "the validator took a bad manifest"
"$venv/bin/python" - "$work" <<'PY'
import os, sys, subprocess, yaml
work = sys.argv[1]
def load(d, f):
    return yaml.safe_load(open(os.path.join(work, d, f)))
for d, hosts in (("scaled", ["main"]), ("two", ["a", "b"])):
    cm = [f for f in os.listdir(os.path.join(work, d)) if f.startswith("configmap")][0]
    text = load(d, cm)["data"]["graph.yaml"]
    g = yaml.safe_load(text)
    path = os.path.join(work, d + "-graph.yaml")
    open(path, "w").write(text)
    # the resolved graph loads with every check gotflow run makes
    subprocess.run(["gotflow", "check", path], check=True, stdout=subprocess.DEVNULL)
    secret = load(d, "secret-keys.yaml")["stringData"]
    assert sorted(g["hosts"]) == hosts, g["hosts"]
    for h in hosts:
        pub = secret[h + ".key"].split("\n")[0].split(": ")[1]
        assert g["hosts"][h]["curve_public"] == pub, h
        sts = load(d, "statefulset-%s.yaml" % h)
        svc = load(d, "service-%s.yaml" % h)
        name = sts["metadata"]["name"]
        assert svc["spec"]["clusterIP"] == "None" and sts["spec"]["serviceName"] == svc["metadata"]["name"]
        assert g["hosts"][h]["address"] == "%s-0.%s" % (name, name), g["hosts"][h]
        c = sts["spec"]["template"]["spec"]["containers"][0]
        assert c["command"][:3] == ["gotflow", "run", "/etc/gotflow/graph.yaml"] and h in c["command"]
        assert c["readinessProbe"]["exec"]["command"][:2] == ["gotflow", "status"]
    gw = load(d, "service-gateway.yaml")
    assert gw["spec"]["ports"][0]["port"] == 7000
    assert g["stages"]["gateway"]["bind"] == "tcp://*:7000"
s = load("scaled", "statefulset-main.yaml")["spec"]["template"]["spec"]
assert s["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 4, s["containers"][0]
assert s["containers"][0]["image"] == "reg.example/gotflow:1"
a = load("two", "statefulset-a.yaml")["spec"]["template"]["spec"]
b = load("two", "statefulset-b.yaml")["spec"]["template"]["spec"]
assert "resources" not in a["containers"][0], "a CPU host asks for GPUs"
assert a["nodeSelector"] == {"zone": "z1"} and b["nodeSelector"] == {"pool": "big", "zone": "z1"}, (a, b)
assert load("two", "service-a.yaml")["metadata"]["namespace"] == "ml"
print("manifests valid; graph, keys, GPUs, selectors and addresses as the graph says")
PY
