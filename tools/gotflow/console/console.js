// The gotflow web console (docs/http.md): generation with the chain, the plan and the picture as
// they come (POST /v1/images/generations with stream: true), the pipeline from GET /v1/status
// every second, and any stage's tap (GET /v1/taps/STAGE?kind=K) with a recording that
// `gotflow replay` reads. Plain JavaScript; nothing is fetched from anywhere but this server.
"use strict";

const $ = (id) => document.getElementById(id);
const COLOURS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324"];

const keyInput = $("key");
keyInput.value = localStorage.getItem("gotflow-key") || "";
keyInput.addEventListener("change", () => localStorage.setItem("gotflow-key", keyInput.value));

function headers(extra) {
  const h = Object.assign({}, extra || {});
  if (keyInput.value) h["Authorization"] = "Bearer " + keyInput.value;
  return h;
}

function text(el, s) { el.textContent = s; return el; }
function el(tag, cls, s) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (s !== undefined) e.textContent = s;
  return e;
}

// Reads a Server-Sent Events body: calls onEvent(object) for each `data:` JSON line, returns at
// the end of the stream or on `data: [DONE]`.
async function readEvents(response, onEvent, signal) {
  const reader = response.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += dec.decode(value, { stream: true });
    let cut;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      for (const line of block.split("\n")) {
        if (!line.startsWith("data: ")) continue;
        const data = line.slice(6);
        if (data === "[DONE]") { reader.cancel().catch(() => {}); return; }
        try { onEvent(JSON.parse(data)); } catch (e) { console.error("bad event", e, data); }
      }
      if (signal && signal.aborted) { reader.cancel().catch(() => {}); return; }
    }
  }
}

async function errorMessage(r) {
  try { const j = await r.json(); return r.status + ": " + j.error.message; } catch (e) { return "HTTP " + r.status; }
}

// Generation ---------------------------------------------------------------------------------

const gen = { objects: [], pictures: [], chain: "", score: null };

function drawBoxes(ctx, w, h, objects, lineWidth) {
  ctx.lineWidth = lineWidth;
  ctx.font = "11px sans-serif";
  objects.forEach((o, i) => {
    const [x1, y1, x2, y2] = o.box.map((v) => v / 1000);
    const c = COLOURS[i % COLOURS.length];
    ctx.strokeStyle = c;
    ctx.strokeRect(x1 * w, y1 * h, (x2 - x1) * w, (y2 - y1) * h);
    ctx.fillStyle = c;
    ctx.fillText(o.phrase, x1 * w + 3, y1 * h + 12);
  });
}

function drawPlan() {
  const cv = $("plan"), ctx = cv.getContext("2d");
  ctx.clearRect(0, 0, cv.width, cv.height);
  drawBoxes(ctx, cv.width, cv.height, gen.objects, 2);
  cv.dataset.boxes = String(gen.objects.length);
  text($("n-boxes"), gen.objects.length ? gen.objects.length + " objects" : "");
}

function drawPictures() {
  const box = $("pictures");
  box.replaceChildren();
  gen.pictures.forEach((img, k) => {
    const cv = el("canvas");
    const size = Math.max(256, img.naturalWidth);
    cv.width = size;
    cv.height = Math.round(size * img.naturalHeight / img.naturalWidth);
    cv.className = "picture";
    const ctx = cv.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(img, 0, 0, cv.width, cv.height);
    if ($("overlay").checked) {
      drawBoxes(ctx, cv.width, cv.height, gen.objects, 2);
      if (k === 0 && gen.score && gen.score.objects) {  // where the demo model's score found them
        ctx.setLineDash([4, 3]);
        ctx.strokeStyle = "#000";
        gen.score.objects.filter((o) => o.found && o.box).forEach((o) => {
          const [x1, y1, x2, y2] = o.box.map((v) => v / 1000);
          ctx.strokeRect(x1 * cv.width, y1 * cv.height, (x2 - x1) * cv.width, (y2 - y1) * cv.height);
        });
        ctx.setLineDash([]);
      }
    }
    box.appendChild(cv);
  });
}
$("overlay").addEventListener("change", drawPictures);

function addPicture(b64) {
  const img = new Image();
  img.onload = () => { gen.pictures.push(img); drawPictures(); };
  img.src = "data:image/png;base64," + b64;
}

function showChain() {
  const pre = $("chain");
  pre.replaceChildren();
  // special tokens in a colour of their own
  for (const part of gen.chain.split(/(<\|[a-z_]+\|>|<[a-z_]+_of_image>)/)) {
    if (!part) continue;
    pre.appendChild(/^<.*>$/.test(part) ? el("span", "tok", part) : document.createTextNode(part));
  }
  pre.scrollTop = pre.scrollHeight;
}

function metaRow(table, k, v) {
  const tr = el("tr");
  tr.appendChild(el("td", "", k));
  tr.appendChild(el("td", "num", typeof v === "number" ? String(Math.round(v * 1000) / 1000) : String(v)));
  table.appendChild(tr);
}

function showMeta(res, ms) {
  const t = $("meta");
  t.replaceChildren();
  const md = res.metadata || {};
  metaRow(t, "id", res.id || md.id || "");
  for (const [k, v] of Object.entries(md.params || {})) metaRow(t, k, v);
  metaRow(t, "model", md.model || "");
  for (const [k, v] of Object.entries(md.timings_ms || {})) metaRow(t, k + " (ms)", v);
  metaRow(t, "total in the browser (ms)", ms);
  gen.score = md.score || null;
  if (gen.score) {
    text($("score"), "layout score: mean IoU " + gen.score.mean_iou.toFixed(2) + ", prompt objects named " +
      gen.score.named + "/" + gen.score.n_prompt_objects);
    $("score").dataset.meanIou = String(gen.score.mean_iou);
  }
}

function params() {
  const body = { prompt: $("prompt").value, stream: true, response_format: "b64_json" };
  for (const f of ["seed", "n", "max_tokens"]) if ($(f).value !== "") body[f] = parseInt($(f).value, 10);
  for (const f of ["cfg_weight", "text_temperature", "image_temperature"])
    if ($(f).value !== "") body[f] = parseFloat($(f).value);
  return body;
}

async function generate(ev) {
  ev.preventDefault();
  Object.assign(gen, { objects: [], pictures: [], chain: "", score: null });
  showChain(); drawPlan(); drawPictures();
  $("objects").replaceChildren(); $("meta").replaceChildren();
  text($("score"), ""); delete $("score").dataset.meanIou;
  $("progress").value = 0; text($("progress-text"), "");
  $("gen-error").hidden = true;
  $("go").disabled = true;
  document.body.dataset.generation = "running";
  const t0 = performance.now();
  try {
    const r = await fetch("v1/images/generations", {
      method: "POST", headers: headers({ "Content-Type": "application/json" }), body: JSON.stringify(params()),
    });
    if (!r.ok) throw new Error(await errorMessage(r));
    await readEvents(r, (e) => {
      switch (e.type) {
      case "reasoning.delta": gen.chain += e.delta; showChain(); break;
      case "layout.object":
        gen.objects.push(e);
        $("objects").appendChild(el("li", "", e.phrase + "  [" + e.box.join(", ") + "]"));
        drawPlan();
        break;
      case "image_generation.progress":
        $("progress").max = e.of; $("progress").value = e.step;
        text($("progress-text"), e.step + " / " + e.of + " image tokens");
        break;
      case "image_generation.completed": addPicture(e.b64_json); break;
      case "response.completed":
        $("progress").value = $("progress").max;
        text($("progress-text"), "done");
        if (e.reasoning && e.reasoning !== gen.chain) { gen.chain = e.reasoning; showChain(); }
        showMeta(e, performance.now() - t0);
        drawPictures();
        break;
      case "error": throw new Error(e.error.message);
      }
    });
    document.body.dataset.generation = "done";
  } catch (err) {
    $("gen-error").hidden = false;
    text($("gen-error"), String(err.message || err));
    document.body.dataset.generation = "error";
  } finally {
    $("go").disabled = false;
  }
}
$("gen-form").addEventListener("submit", generate);

// Pipeline -----------------------------------------------------------------------------------

let lastStages = "";

function cell(tr, v, num) { tr.appendChild(el("td", num ? "num" : "", v === undefined || v === null ? "" : String(v))); }

async function poll() {
  try {
    const r = await fetch("v1/status", { headers: headers() });
    if (!r.ok) throw new Error(await errorMessage(r));
    const st = await r.json();
    text($("pipeline-name"), st.pipeline + " (" + st.version + ")");
    text($("pipe-state"), st.state + ", up " + Math.round(st.uptime_ms / 1000) + " s, supervisor pid " + st.supervisor_pid);
    const ready = st.state === "running" && st.replicas.every((x) => x.state === "ready");
    const b = $("ready");
    text(b, ready ? "ready" : st.state); b.className = "badge " + (ready ? "ok" : "bad");
    const tb = $("stages").tBodies[0];
    tb.replaceChildren();
    const perStage = {};
    for (const x of st.replicas) {
      const tr = el("tr");
      cell(tr, x.stage); cell(tr, x.kind); cell(tr, x.replica, 1); cell(tr, x.state); cell(tr, x.pid, 1);
      cell(tr, x.restarts, 1); cell(tr, x.credits, 1); cell(tr, x.queue, 1); cell(tr, x.requests, 1);
      cell(tr, x.in_flight ? x.in_flight.length : "", 1); cell(tr, x.done, 1); cell(tr, x.errors, 1);
      cell(tr, x.rate !== undefined ? x.rate.toFixed(2) : "", 1);
      cell(tr, x.p50_us !== undefined ? (x.p50_us / 1000).toFixed(1) : "", 1);
      cell(tr, x.p99_us !== undefined ? (x.p99_us / 1000).toFixed(1) : "", 1);
      tb.appendChild(tr);
      perStage[x.stage] = (perStage[x.stage] || 0) + (x.rate || 0);
    }
    text($("throughput"), "throughput (requests/s, all replicas): " +
      Object.entries(perStage).map(([k, v]) => k + " " + v.toFixed(2)).join(" · "));
    const names = Object.keys(perStage).join(",");
    if (names !== lastStages) {  // the tap's stage list
      lastStages = names;
      const sel = $("tap-stage"), was = sel.value;
      sel.replaceChildren(...Object.keys(perStage).map((n) => { const o = el("option", "", n); o.value = n; return o; }));
      if (was && perStage[was] !== undefined) sel.value = was;
    }
  } catch (err) {
    const b = $("ready");
    text(b, "no status: " + (err.message || err)); b.className = "badge bad";
  }
}
poll();
setInterval(poll, 1000);

// Tap ----------------------------------------------------------------------------------------

const tap = { ctrl: null, paused: false, runDir: "", records: [], bytes: 0, shown: 0, skipped: 0, stage: "" };
const TAP_KEEP_BYTES = 256 << 20; // what a recording may hold in the browser
const TAP_SHOW = 300;             // frames kept on the page

function b64bytes(s) {
  const bin = atob(s), out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function tapInfo(state) {
  text($("tap-info"), state + " — " + tap.records.length + " frames recorded" +
    (tap.skipped ? ", " + tap.skipped + " skipped while paused" : "") +
    (tap.dropped ? ", " + tap.dropped + " dropped by the tap" : ""));
}

function showFrame(e) {
  const box = $("tap-frames");
  const d = el("div", "frame");
  d.dataset.kind = e.kind;
  d.appendChild(el("div", "head", e.stage + "." + e.replica + "  " + e.kind + "  #" + e.seq +
    (e.frame && e.frame.id ? "  id " + e.frame.id : "")));
  if (e.kind === "text_delta" && e.frame && typeof e.frame.text === "string") {
    d.appendChild(el("span", "text", e.frame.text));
  } else {
    for (const p of e.pictures || []) {
      const img = el("img");
      img.src = "data:image/png;base64," + p;
      d.appendChild(img);
    }
    d.appendChild(el("pre", "", JSON.stringify(e.frame)));
  }
  box.appendChild(d);
  while (box.childElementCount > TAP_SHOW) box.firstElementChild.remove();
  box.scrollTop = box.scrollHeight;
  tap.shown++;
}

async function tapStart() {
  tapStop();
  const stage = $("tap-stage").value, kind = $("tap-kind").value.trim();
  if (!stage) return;
  Object.assign(tap, { ctrl: new AbortController(), paused: false, records: [], bytes: 0, shown: 0,
    skipped: 0, dropped: 0, stage: stage });
  $("tap-frames").replaceChildren();
  $("tap-start").disabled = true; $("tap-pause").disabled = false; $("tap-stop").disabled = false;
  text($("tap-pause"), "Pause");
  const ctrl = tap.ctrl;
  try {
    const r = await fetch("v1/taps/" + encodeURIComponent(stage) + (kind ? "?kind=" + encodeURIComponent(kind) : ""),
      { headers: headers(), signal: ctrl.signal });
    if (!r.ok) throw new Error(await errorMessage(r));
    await readEvents(r, (e) => {
      if (e.type === "tap.start") {
        tap.runDir = e.run_dir;
        tapInfo("watching " + stage + (kind ? "." + kind : ""));
        document.body.dataset.tap = "watching";
      } else if (e.type === "tap.frame") {
        tap.dropped = e.dropped;
        if (tap.paused) { tap.skipped++; tapInfo("paused"); return; }
        if (e.msgpack && tap.bytes < TAP_KEEP_BYTES) {
          const frame = b64bytes(e.msgpack);
          tap.records.push({ topic: e.topic, replica: e.replica, seq: e.seq, id: e.frame && e.frame.id, frame: frame });
          tap.bytes += frame.length;
          $("tap-download").disabled = false;
        }
        showFrame(e);
        tapInfo("watching " + stage + (kind ? "." + kind : ""));
      } else if (e.type === "tap.end") {
        tapInfo("ended: " + e.why);
      }
    }, ctrl.signal);
  } catch (err) {
    if (err.name !== "AbortError") text($("tap-info"), "tap: " + (err.message || err));
  }
  if (tap.ctrl === ctrl) tapStopped();
}

function tapStopped() {
  tap.ctrl = null;
  $("tap-start").disabled = false; $("tap-pause").disabled = true; $("tap-stop").disabled = true;
  document.body.dataset.tap = "stopped";
}

function tapStop() {
  if (tap.ctrl) {
    tap.ctrl.abort();
    tapStopped();
    tapInfo("stopped");
  }
}

function tapPause() {
  tap.paused = !tap.paused;
  text($("tap-pause"), tap.paused ? "Resume" : "Pause");
  tapInfo(tap.paused ? "paused" : "watching " + tap.stage);
}

// The frames seen, as a record file (docs/protocol.md §5): "gotflow-record 1\n", "run RUN_DIR\n",
// then per frame u32 topic length, topic, u32 replica, u64 sequence, u32 length, the frame.
function recording() {
  const enc = new TextEncoder();
  const head = enc.encode("gotflow-record 1\nrun " + tap.runDir + "\n");
  const topics = tap.records.map((r) => enc.encode(r.topic));
  let size = head.length;
  tap.records.forEach((r, i) => { size += 4 + topics[i].length + 4 + 8 + 4 + r.frame.length; });
  const out = new Uint8Array(size), dv = new DataView(out.buffer);
  out.set(head, 0);
  let o = head.length;
  tap.records.forEach((r, i) => {
    dv.setUint32(o, topics[i].length, true); o += 4;
    out.set(topics[i], o); o += topics[i].length;
    dv.setUint32(o, r.replica, true); o += 4;
    dv.setUint32(o, r.seq % 4294967296, true); dv.setUint32(o + 4, Math.floor(r.seq / 4294967296), true); o += 8;
    dv.setUint32(o, r.frame.length, true); o += 4;
    out.set(r.frame, o); o += r.frame.length;
  });
  return out;
}

function tapDownload() {
  const blob = new Blob([recording()], { type: "application/octet-stream" });
  const a = el("a");
  a.href = URL.createObjectURL(blob);
  a.download = "tap-" + tap.stage + ".gfrec";
  document.body.appendChild(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}

$("tap-start").addEventListener("click", tapStart);
$("tap-stop").addEventListener("click", tapStop);
$("tap-pause").addEventListener("click", tapPause);
$("tap-download").addEventListener("click", tapDownload);
$("tap-clear").addEventListener("click", () => { $("tap-frames").replaceChildren(); tap.records = []; tap.bytes = 0; tap.skipped = 0; $("tap-download").disabled = true; tapInfo(tap.ctrl ? "watching " + tap.stage : "not watching"); });

window.gotflowConsole = { recording: recording, tap: tap, gen: gen };
