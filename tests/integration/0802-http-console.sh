#!/usr/bin/env bash
# The web console in a real browser: Debian's chromium, driven by Selenium (PyPI, in
# build/venv-test) through chromium-driver, headless, loads the console of `gotflow serve` on the
# demo model, watches the gateway's tap, submits a prompt, and sees the chain, the planned boxes,
# the picture with its layout score, the pipeline table and the tap's frames; the recording it
# downloads replays with `gotflow replay` (the replayed prompt comes out of tokenize under its
# id). Screenshots are kept in build/test-logs/0802-*.png. Installs chromium and chromium-driver
# when missing; skips with one line where they cannot be installed or started, or without PyPI.
. "$(dirname "$0")/lib.sh"
cd "$top"
[ -f models/got-r1-demo/config.json ] || skip "models/got-r1-demo is not here"
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    [ "$(id -u)" = 0 ] && sudo= || sudo=sudo
    DEBIAN_FRONTEND=noninteractive timeout 600 $sudo apt-get install -y --no-install-recommends \
        chromium chromium-driver >"$work/apt.log" 2>&1 ||
        skip "cannot install chromium and chromium-driver (apt-get)"
fi
venv=$build/venv-test
if ! "$venv/bin/python" -c 'import selenium' 2>/dev/null; then
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv" >/dev/null 2>&1 ||
        skip "cannot make a virtualenv (python3-venv)"
    timeout 300 "$venv/bin/pip" install -q selenium >"$work/pip.log" 2>&1 ||
        skip "pip cannot install selenium from PyPI: $(tail -1 "$work/pip.log")"
fi
shots=$build/test-logs
mkdir -p "$shots" "$work/dl"
gotflow serve pipelines/got-r1-cpu.yaml --listen 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.err" &
serve_pid=$!
for _ in $(seq 300); do
    url=$(grep -o 'http://[^ ]*' "$work/serve.out" 2>/dev/null || true)
    [ -n "$url" ] && break
    kill -0 $serve_pid 2>/dev/null || fail "serve exited: $(cat "$work/serve.err")"
    sleep 0.1
done
[ -n "$url" ] || fail "serve printed no URL"
gotflow status pipelines/got-r1-cpu.yaml --wait-ready >/dev/null || fail "the pipeline is not ready"
# the tap endpoint's own errors, and its first event
code=$(curl -s -o "$work/e.json" -w '%{http_code}' "${url}v1/taps/nosuch")
[ "$code" = 404 ] && grep -q "no stage 'nosuch'" "$work/e.json" || fail "unknown stage: $code $(cat "$work/e.json")"
code=$(curl -s -o "$work/e.json" -w '%{http_code}' "${url}v1/taps/reason?kind=a.b")
[ "$code" = 400 ] && grep -q '"param":"kind"' "$work/e.json" || fail "bad kind: $code $(cat "$work/e.json")"
curl -sN --max-time 2 "${url}v1/taps/reason?kind=text_delta" >"$work/tap.txt" || true
head -1 "$work/tap.txt" | grep -q '^data: {"type":"tap.start","stage":"reason","kind":"text_delta"' ||
    fail "the tap stream does not start with tap.start: $(head -c 300 "$work/tap.txt")"
for f in / console.js console.css; do
    curl -sf -o /dev/null "$url${f#/}" || fail "GET /$f failed"
done

set +e
"$venv/bin/python" - "$url" "$work/dl" "$shots" >"$work/browser.out" 2>&1 <<'PY'
import base64, glob, os, sys, time
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

url, dl, shots = sys.argv[1:]
opts = webdriver.ChromeOptions()
opts.binary_location = "/usr/bin/chromium"
for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
          "--window-size=1400,1750", "--no-first-run"):
    opts.add_argument(a)
opts.add_experimental_option("prefs", {"download.default_directory": dl,
                                       "download.prompt_for_download": False})
try:
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
except WebDriverException as e:
    print("SKIP cannot start chromium headless: %s" % str(e).splitlines()[0])
    sys.exit(77)
try:
    d.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": dl})
    d.get(url)
    w = WebDriverWait(d, 60)
    js = d.execute_script
    w.until(lambda d: d.find_element(By.ID, "ready").text == "ready")
    w.until(lambda d: "gateway" in [o.text for o in Select(d.find_element(By.ID, "tap-stage")).options])
    rows = d.find_elements(By.CSS_SELECTOR, "#stages tbody tr")
    assert len(rows) >= 7, "the pipeline table has %d rows" % len(rows)
    print("pipeline view: %d replicas" % len(rows))

    # the gateway's prompt frames, watched before the prompt is sent
    Select(d.find_element(By.ID, "tap-stage")).select_by_visible_text("gateway")
    d.find_element(By.ID, "tap-kind").send_keys("prompt")
    d.find_element(By.ID, "tap-start").click()
    w.until(lambda d: js("return document.body.dataset.tap") == "watching")

    p = d.find_element(By.ID, "prompt")
    p.clear()
    p.send_keys("a red circle to the left of a blue square")
    d.find_element(By.ID, "seed").send_keys("7")
    d.find_element(By.ID, "go").click()
    WebDriverWait(d, 120).until(lambda d: js("return document.body.dataset.generation") in ("done", "error"))
    assert js("return document.body.dataset.generation") == "done", d.find_element(By.ID, "gen-error").text
    chain = d.find_element(By.ID, "chain").text
    assert "<|box_end|>" in chain, "no chain: %r" % chain[:200]
    boxes = int(js("return document.getElementById('plan').dataset.boxes"))
    assert boxes >= 1, "no planned boxes"
    # the plan canvas has coloured strokes on it
    inked = js("""const c = document.getElementById('plan'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                  let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n;""")
    assert inked > 100, "the plan canvas is empty"
    w.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#pictures canvas"))
    colours = js("""const c = document.querySelector('#pictures canvas'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                    const s = new Set(); for (let i = 0; i < d.length; i += 4) s.add(d[i] << 16 | d[i+1] << 8 | d[i+2]); return s.size;""")
    assert colours > 3, "the picture is blank"
    w.until(lambda d: js("return document.getElementById('score').dataset.meanIou") is not None)
    score = float(js("return document.getElementById('score').dataset.meanIou"))
    meta = d.find_element(By.ID, "meta").text
    assert "seed" in meta and "total" in meta, meta
    print("generation: chain %d chars, %d boxes, picture with %d colours, mean IoU %.2f" %
          (len(chain), boxes, colours, score))

    w.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#tap-frames .frame[data-kind=prompt]"))
    frames = d.find_elements(By.CSS_SELECTOR, "#tap-frames .frame")
    assert "a red circle" in frames[-1].text, frames[-1].text
    d.save_screenshot(os.path.join(shots, "0802-console.png"))
    d.find_element(By.ID, "tap-pause").click()
    assert d.find_element(By.ID, "tap-pause").text == "Resume"
    d.find_element(By.ID, "tap-download").click()
    got = []
    for _ in range(150):
        got = [f for f in glob.glob(os.path.join(dl, "*.gfrec"))]
        if got:
            break
        time.sleep(0.1)
    assert got, "no recording downloaded: %s" % os.listdir(dl)
    # the file equals the bytes the console builds
    want = base64.b64decode(js("""const b = window.gotflowConsole.recording(); let s = '';
        for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]); return btoa(s);"""))
    time.sleep(0.3)
    assert open(got[0], "rb").read() == want, "the downloaded recording differs from the console's"
    print("tap: %d frame(s) seen, recording %s (%d bytes)" % (len(frames), os.path.basename(got[0]), len(want)))
    print("RECORDING " + got[0])
    print("ID " + js("return window.gotflowConsole.tap.records[0].id"))
finally:
    try:
        d.save_screenshot(os.path.join(shots, "0802-console-end.png"))
    except Exception:
        pass
    d.quit()
PY
rc=$?
set -e
cat "$work/browser.out"
[ $rc = 77 ] && skip "$(grep '^SKIP' "$work/browser.out" | head -1 | cut -c6-)"
[ $rc = 0 ] || fail "the browser checks failed"
rec=$(sed -n 's/^RECORDING //p' "$work/browser.out")
# the recording replays: the prompt goes into tokenize again and comes out under its id
id=$(sed -n 's/^ID //p' "$work/browser.out")
gotflow tap pipelines/got-r1-cpu.yaml tokenize.tokens --json --count 1 --timeout 60 >"$work/tokens.json" 2>/dev/null &
tap_pid=$!
sleep 1
gotflow replay "$rec" tokenize >"$work/replay.out" || fail "gotflow replay refused the console's recording"
grep -q "replayed [1-9][0-9]* frames into 'tokenize'" "$work/replay.out" || fail "replay: $(cat "$work/replay.out")"
wait $tap_pid
grep -q "\"id\":\"$id\"" "$work/tokens.json" || fail "the replayed prompt '$id' did not come out of tokenize"
kill -TERM $serve_pid
wait $serve_pid || fail "serve exited $? on SIGTERM"
echo "console: chain, boxes, picture, pipeline and tap seen in chromium; the recording replays"
