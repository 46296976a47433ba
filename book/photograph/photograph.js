// "Your photograph": the book's trained networks on the reader's image, in the browser.
//
// The manifest (networks, their outputs, the normalisation of chattn.data) is written into the
// page at build time by book/_ext/chattn_photograph.py. Nothing is fetched before the reader
// chooses an image; then onnxruntime-web (the site's own copy, wasm, one thread) and the networks
// the reader ticks: one box per module, and per swept module an r / k control that picks which of
// its trained networks (the grid's, or one of the sweep's values) runs; a network is fetched when
// it is first run. Results for tests: JSON in #photograph-test-results.

const $ = (id) => document.getElementById(id);
const BASE = new URL(".", import.meta.url);                 // .../_static/photograph/
const CHUNK = 64;                                           // patches per inference call
const PROBES = 3;                                           // patches whose raw gates are exposed for tests
const CLASS_COLOURS = ["#8c564b", "#2ca02c", "#7f7f7f", "#d62728", "#ff7f0e", "#1f77b4", "#9467bd", "#e377c2"];
const VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"];
const RDBU_R = ["#053061", "#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7", "#fddbc7", "#f4a582", "#d6604d", "#b2182b", "#67001f"];

const manifest = JSON.parse($("photograph-manifest").textContent);
const byKey = Object.fromEntries(manifest.networks.map((n) => [n.key, n]));
const modules = [...new Set(manifest.networks.map((n) => n.attn))];     // one box and one panel each
const state = {
  choice: Object.fromEntries(modules.map((a) => [a, a])),   // module -> key of the network it runs (the grid's: key = attn)
  image: null,        // {name, bitmap, width, height, sourceWidth, sourceHeight, rows, cols, x}
  results: {},        // key -> {logits, pred, gates, probes, ms, patches} for the current image
  selected: -1,       // patch index whose gates are shown; -1: mean over patches
  token: 0,           // increases with every new image or run: a stale run stops
  ort: null,
  sessions: {},
  failed: {},         // key -> message of a network that could not be loaded
};

// ---------------------------------------------------------------- messages and progress
function message(text) {
  const el = $("photograph-message");
  el.textContent = text || "";
  el.hidden = !text;
}
function status(text, fraction) {
  $("photograph-status").textContent = text || "";
  const bar = $("photograph-progress");
  bar.hidden = fraction === undefined;
  if (fraction === null) bar.removeAttribute("value");       // indeterminate
  else if (fraction !== undefined) bar.value = fraction;
}
function setState(s) { $("photograph").dataset.state = s; }
const mb = (bytes) => (bytes / 1e6).toFixed(bytes < 1e6 ? 2 : 1) + " MB";
// "Loading the SE network: 0.31 MB of 0.62 MB (50%)": bytes as read (after any gzip), of the
// file's size in the manifest.
function progressText(label, got, total) {
  return total ? `Loading ${label}: ${mb(got)} of ${mb(total)} (${Math.min(100, Math.floor(100 * got / total))}%)…`
               : `Loading ${label}: ${mb(got)}…`;
}
const tick = () => new Promise((r) => setTimeout(r, 0));

// ---------------------------------------------------------------- colour scales
function hex(c) { return [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16)); }
function ramp(stops, t) {
  t = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(t)), f = t - i;
  const a = hex(stops[i]), b = hex(stops[i + 1]);
  return `rgb(${a.map((v, j) => Math.round(v + f * (b[j] - v))).join(",")})`;
}
// The chapters' scales: viridis on [0, 1] for sigmoid gates; red-blue centred on 1 for factors around 1.
// In dark mode the factors' scale is centred on a dark grey (blue - grey - red), so that a strip of
// factors near 1 is not a near-white bar on a dark page.
const RDBU_DARK = ["#6fa8dc", "#3d85c6", "#2b5d8c", "#2a3a4a", "#3a3a3a", "#4a2f2f", "#8c2b2b", "#c63d3d", "#e06666"];
const dark = () => document.documentElement.dataset.theme === "dark";
function scaleFor(lo, hi) {
  if (lo >= 0 && hi <= 1) return { name: "viridis, 0 to 1", colour: (v) => ramp(VIRIDIS, v), lo: 0, hi: 1 };
  const lim = Math.max(Math.abs(lo - 1), Math.abs(hi - 1), 1e-6), stops = dark() ? RDBU_DARK : RDBU_R;
  return { name: `${dark() ? "blue-grey-red" : "red-blue"}, ${(1 - lim).toFixed(2)} to ${(1 + lim).toFixed(2)}`,
           colour: (v) => ramp(stops, (v - 1 + lim) / (2 * lim)), lo: 1 - lim, hi: 1 + lim };
}

// ---------------------------------------------------------------- the image -> patches
// The image formats the page reads, by their first bytes: a file that starts like one of them but
// does not decode is damaged (cut short, or corrupted), not "not an image".
const SIGNATURES = [["PNG", [0x89, 0x50, 0x4e, 0x47]], ["JPEG", [0xff, 0xd8, 0xff]], ["GIF", [0x47, 0x49, 0x46, 0x38]],
  ["BMP", [0x42, 0x4d]], ["WebP", [0x52, 0x49, 0x46, 0x46]]];
async function imageFormat(blob) {
  const head = new Uint8Array(await blob.slice(0, 12).arrayBuffer());
  for (const [name, sig] of SIGNATURES) if (sig.every((b, i) => head[i] === b)) return name;
  return null;
}

async function readImage(blob, name) {
  if (blob.size === 0) {
    throw new Error(`“${name}” is empty (0 bytes): there is no image in it. Choose another file.`);
  }
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  } catch (e) {
    const format = await imageFormat(blob);
    if (format) {
      throw new Error(`“${name}” starts like a ${format} file but is damaged: it could not be decoded (${blob.size.toLocaleString("en")} bytes; cut short or corrupted?). Choose another file.`);
    }
    throw new Error(`“${name}” is not an image this browser can read (${blob.type || "unknown type"}). Choose a PNG, JPEG, GIF, WebP or BMP file.`);
  }
  const p = manifest.patch, sw = bitmap.width, sh = bitmap.height;
  if (sw < p || sh < p) {
    bitmap.close();
    throw new Error(`“${name}” is ${sw}×${sh} pixels: smaller than one ${p}×${p} patch. Choose an image at least ${p} pixels wide and high.`);
  }
  let note = "";
  if (Math.max(sw, sh) > manifest.max_side) {
    const s = manifest.max_side / Math.max(sw, sh);
    const w = Math.max(1, Math.round(sw * s)), h = Math.max(1, Math.round(sh * s));
    if (w < p || h < p) {
      bitmap.close();
      throw new Error(`“${name}” is ${sw}×${sh} pixels; scaled down to ${manifest.max_side} pixels on its longer side it would be ${w}×${h}, thinner than one ${p}×${p} patch.`);
    }
    const small = await createImageBitmap(bitmap, { resizeWidth: w, resizeHeight: h, resizeQuality: "high", colorSpaceConversion: "none", premultiplyAlpha: "none" });
    bitmap.close();
    bitmap = small;
    note = `“${name}” is ${sw}×${sh} pixels, larger than the limit of ${manifest.max_side} on the longer side: scaled down to ${w}×${h}.`;
  }
  const w = bitmap.width, h = bitmap.height;
  const canvas = document.createElement("canvas");
  canvas.width = w; canvas.height = h;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  const rgba = ctx.getImageData(0, 0, w, h).data;
  const rows = Math.floor(h / p), cols = Math.floor(w / p), n = rows * cols, pp = p * p;
  const x = new Float32Array(n * 3 * pp);                   // (N, 3, p, p), row-major patches
  // Transparent pixels are composited onto the stated background, as chattn.export.image_patches
  // does (float32, in its order): x = c/255 · α + background/255 · (1 − α), α = a/255.
  const f = Math.fround, bg = f(manifest.background / 255);
  let transparent = 0;
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) {
    const base = (r * cols + c) * 3 * pp;
    for (let i = 0; i < p; i++) for (let j = 0; j < p; j++) {
      const src = ((r * p + i) * w + c * p + j) * 4, a = rgba[src + 3];
      if (a < 255) transparent++;
      const alpha = f(a / 255), rest = f(f(1 - alpha) * bg);
      for (let k = 0; k < 3; k++) {
        const v = a === 255 ? f(rgba[src + k] / 255) : f(f(f(rgba[src + k] / 255) * alpha) + rest);
        x[base + k * pp + i * p + j] = (v - manifest.mean[k]) / manifest.std[k];
      }
    }
  }
  if (transparent) {
    const shade = manifest.background === 255 ? "white" : `grey level ${manifest.background}`;
    note = [note, `${(100 * transparent / (rows * cols * pp)).toFixed(1)}% of the pixels the networks read are transparent or translucent: they are read on a ${shade} background, as chattn.export.image_patches reads them.`].filter(Boolean).join(" ");
  }
  return { name, bitmap, width: w, height: h, sourceWidth: sw, sourceHeight: sh, rows, cols, x, note };
}

// ---------------------------------------------------------------- runtime and networks
async function runtime() {
  if (state.ort) return state.ort;
  let ort;
  try {
    // The WebAssembly binary (most of the runtime's bytes) is fetched here, with progress in
    // bytes and percent, and handed to the runtime; the two small modules are imported.
    const wasm = "ort-wasm-simd-threaded.wasm";
    const binary = await fetchBytes(new URL(`ort/${wasm}`, BASE).href, manifest.ort.files[wasm],
                                    `the runtime, onnxruntime-web ${manifest.ort.version} (once)`);
    ort = await import(new URL("ort/ort.wasm.min.mjs", BASE).href);
    ort.env.wasm.wasmPaths = new URL("ort/", BASE).href;    // the site's own copy, never a CDN
    ort.env.wasm.wasmBinary = binary;
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.proxy = false;
    ort.env.logLevel = "error";
  } catch (e) {
    throw new Error(`The runtime (onnxruntime-web) could not be loaded: ${e.message}`);
  }
  state.ort = ort;
  return ort;
}

async function fetchBytes(url, total, label) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const reader = response.body.getReader();
  const parts = []; let got = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value); got += value.length;
    status(progressText(label, got, total), total ? Math.min(1, got / total) : null);
  }
  const out = new Uint8Array(got); let at = 0;
  for (const part of parts) { out.set(part, at); at += part.length; }
  return out;
}

async function session(net) {
  if (state.sessions[net.key]) return state.sessions[net.key];
  const ort = await runtime();
  let bytes;
  try {
    bytes = await fetchBytes(new URL(net.file, BASE).href, net.bytes, `the ${net.label} network`);
  } catch (e) {
    throw new Error(`The ${net.label} network (${net.file}) could not be downloaded (${e.message}).`);
  }
  status(`Loading the ${net.label} network into the runtime…`, null);
  try {
    const s = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
    state.sessions[net.key] = s;
    return s;
  } catch (e) {
    throw new Error(`The ${net.label} network (${net.file}) could not be loaded by the runtime (${e.message || e}).`);
  }
}

async function runNetwork(net, image, token) {
  const ort = await runtime();
  const s = await session(net);
  const p = manifest.patch, n = image.rows * image.cols, k = manifest.classes.length, stride = 3 * p * p;
  const gates = net.outputs.slice(1).map((o) => ({ name: o.name, c: o.shape[0], hw: o.shape[1] * o.shape[2], h: o.shape[1], w: o.shape[2] }));
  for (const g of gates) { g.vec = new Float32Array(n * g.c); if (g.hw > 1) g.map = new Float32Array(n * g.hw); }
  const logits = new Float32Array(n * k);
  const probeIdx = probeIndices(n), probes = {};
  const t0 = performance.now();
  for (let start = 0; start < n; start += CHUNK) {
    if (token !== state.token) return null;
    const m = Math.min(CHUNK, n - start);
    const input = new ort.Tensor("float32", image.x.subarray(start * stride, (start + m) * stride), [m, 3, p, p]);
    const out = await s.run({ x: input });
    logits.set(out.logits.data, start * k);
    for (const g of gates) {
      const d = out[g.name].data;
      for (let b = 0; b < m; b++) {
        for (let c = 0; c < g.c; c++) {
          let sum = 0;
          for (let q = 0; q < g.hw; q++) sum += d[(b * g.c + c) * g.hw + q];
          g.vec[(start + b) * g.c + c] = sum / g.hw;
        }
        if (g.map) for (let q = 0; q < g.hw; q++) {
          let sum = 0;
          for (let c = 0; c < g.c; c++) sum += d[(b * g.c + c) * g.hw + q];
          g.map[(start + b) * g.hw + q] = sum / g.c;
        }
        const pi = probeIdx.indexOf(start + b);
        if (pi >= 0) (probes[g.name] ??= [])[pi] = Array.from(d.subarray(b * g.c * g.hw, (b + 1) * g.c * g.hw));
      }
    }
    for (const t of Object.values(out)) t.dispose?.();
    status(`Running ${net.label}: ${Math.min(start + m, n)} of ${n} patches`, (start + m) / n);
    await tick();
  }
  const ms = performance.now() - t0;
  const pred = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (logits[i * k + j] > logits[i * k + best]) best = j;
    pred[i] = best;
  }
  let lo = Infinity, hi = -Infinity;
  for (const g of gates) for (const v of g.vec) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  return { logits, pred, gates, probes, probeIdx, ms, patches: n, range: [lo, hi], scale: scaleFor(lo, hi) };
}

function probeIndices(n) { return [...new Set([0, Math.floor(n / 2), n - 1])].slice(0, PROBES); }

// ---------------------------------------------------------------- what the reader picked
function selectedNetworks() {
  return modules.filter((attn) => $(`photograph-net-${attn}`)?.checked).map((attn) => byKey[state.choice[attn]]);
}

async function run() {
  const image = state.image;
  if (!image) return;
  const token = ++state.token;
  const nets = selectedNetworks().filter((net) => !state.results[net.key] && !state.failed[net.key]);
  if (!nets.length) {                                           // nothing new to run
    status(selectedNetworks().length ? summary(image) : `Tick a network above to run it on “${image.name}”.`);
    if (["reading", "running"].includes($("photograph").dataset.state)) setState("done");
    render();
    return;
  }
  setState("running");
  const problems = [];
  for (const net of nets) {
    try {
      const r = await runNetwork(net, image, token);
      if (r === null) return;                                   // a newer image or run took over
      state.results[net.key] = r;
    } catch (e) {
      state.failed[net.key] = e.message;
      problems.push(e.message);
      if (!state.ort) break;                                    // without the runtime nothing runs
    }
    render();
    await tick();
  }
  if (token !== state.token) return;
  status(summary(image));
  message([image.note, ...problems].filter(Boolean).join(" "));
  setState(problems.length ? "error" : "done");
  render();
}

// Counts the panels shown (ticked networks with results), not every network run on this image.
function summary(image) {
  const shown = selectedNetworks().filter((net) => state.results[net.key]).length;
  return shown ? `${shown} network${shown > 1 ? "s" : ""} shown, run on ${image.rows * image.cols} patches of “${image.name}”.` : "";
}

async function useImage(blob, name) {
  state.token++;
  state.image = null; state.results = {}; state.selected = -1; state.failed = {};
  render();
  message(""); setState("reading");
  status(`Reading “${name}”…`, null);
  try {
    state.image = await readImage(blob, name);
  } catch (e) {
    status("");
    message(e.message);
    setState("error");
    return;
  }
  message(state.image.note);
  await run();
}

// ---------------------------------------------------------------- drawing
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (k === "class") e.className = v; else e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

function drawMap(net, r, image) {
  const p = manifest.patch, width = Math.min(320, image.cols * p), s = width / (image.cols * p);
  const canvas = el("canvas", { width: Math.round(image.cols * p * s), height: Math.round(image.rows * p * s), class: "photograph-map", title: "Click a patch to see its gates" });
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = `rgb(${manifest.background},${manifest.background},${manifest.background})`;   // as the networks read it
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(image.bitmap, 0, 0, image.cols * p, image.rows * p, 0, 0, canvas.width, canvas.height);
  ctx.globalAlpha = 0.45;
  for (let i = 0; i < r.patches; i++) {
    ctx.fillStyle = CLASS_COLOURS[r.pred[i]];
    ctx.fillRect((i % image.cols) * p * s, Math.floor(i / image.cols) * p * s, p * s, p * s);
  }
  ctx.globalAlpha = 1;
  if (state.selected >= 0) {
    ctx.strokeStyle = "#fff"; ctx.lineWidth = 2;
    ctx.strokeRect((state.selected % image.cols) * p * s, Math.floor(state.selected / image.cols) * p * s, p * s, p * s);
  }
  canvas.addEventListener("click", (ev) => {
    const box = canvas.getBoundingClientRect();
    const col = Math.floor((ev.clientX - box.left) / box.width * image.cols), row = Math.floor((ev.clientY - box.top) / box.height * image.rows);
    const i = row * image.cols + col;
    state.selected = state.selected === i ? -1 : i;
    render();
  });
  return canvas;
}

// A gate's ONNX output name in the chapters' words: gate.stage1.block1 -> "stage 1, block 1",
// gate.stage1.block1.conv1 -> "stage 1, block 1, conv 1" (GCT), gate.stem -> "stem"; older
// names s1b0[.conv1] (blocks from 0) read the same.
function gateLabel(name) {
  const words = name.replace(/^gate\./, "").split(".").map((part) => {
    let m = part.match(/^s(\d+)b(\d+)$/);
    if (m) return `stage ${m[1]}, block ${Number(m[2]) + 1}`;
    m = part.match(/^([a-z]+?)(\d+)$/);
    return m ? `${m[1]} ${m[2]}` : part;
  });
  return words.join(", ");
}

function strip(values, scale, cells) {
  const w = Math.max(2, Math.floor(256 / cells));
  const canvas = el("canvas", { width: w * cells, height: 12, class: "photograph-strip" });
  const ctx = canvas.getContext("2d");
  values.forEach((v, c) => { ctx.fillStyle = scale.colour(v); ctx.fillRect(c * w, 0, w, 12); });
  return canvas;
}

function spatial(values, h, w, scale) {
  const cell = Math.max(1, Math.floor(32 / w)), canvas = el("canvas", { width: w * cell, height: h * cell, class: "photograph-spatial", title: "mean over channels" });
  const ctx = canvas.getContext("2d");
  values.forEach((v, q) => { ctx.fillStyle = scale.colour(v); ctx.fillRect((q % w) * cell, Math.floor(q / w) * cell, cell, cell); });
  return canvas;
}

function meanRows(arr, n, width, row) {
  if (row >= 0) return Array.from(arr.subarray(row * width, (row + 1) * width));
  const out = new Array(width).fill(0);
  for (let i = 0; i < n; i++) for (let j = 0; j < width; j++) out[j] += arr[i * width + j] / n;
  return out;
}

// The r / k control's words for one network: "r = 8 · 95.6 ± 0.4% (3 seeds) · 67,816 params"
// (computed at build time from the run records, manifest.networks[].sweep.label).
function sweepControl(net) {
  const group = manifest.networks.filter((o) => o.attn === net.attn);
  const sw = net.sweep;
  if (!sw) {
    const shown = Object.entries(net.swept).map(([l, v]) => `${l} = ${[...new Set(v)].join(", ")}${new Set(v).size > 1 ? " (by stage)" : ""}`).join("; ");
    return el("p", { class: "photograph-sweepline" }, shown ? `${shown}: the only trained network of ${net.label}; no other value to choose.` : "");
  }
  const select = el("select", { "aria-label": `${net.label}: trained ${sw.letter}`, class: "photograph-sweep", "data-module": net.attn });
  for (const o of group) {
    const opt = el("option", { value: o.key }, o.sweep.label);
    if (o.key === net.key) opt.selected = true;
    select.append(opt);
  }
  select.addEventListener("change", () => { state.choice[net.attn] = select.value; render(); run(); });
  const what = sw.option === "reduction" ? "reduction ratio r (hidden layer C / r)" : "kernel size k of the 1-D convolution";
  return el("div", { class: "photograph-sweepline" },
    el("label", {}, `Trained ${what}: `, select),
    el("span", { class: "photograph-chosen" }, `Running: ${sw.label}.`),
    el("span", { class: "photograph-small" }, `The chapters' network, then the sweep's ${group.length - 1}, trained alike; each is fetched when you choose it.`));
}

function panel(net) {
  const image = state.image, r = state.results[net.key];
  const box = el("section", { class: "photograph-panel", "data-network": net.key });
  box.append(el("h3", {}, net.label + (net.sweep && !net.sweep.grid ? ` (${net.sweep.letter} = ${net.sweep.value})` : "")));
  const seeds = net.accuracies.length;
  box.append(el("p", { class: "photograph-small" }, `${(100 * net.accuracy_mean).toFixed(1)}` +
    (seeds > 1 ? ` ± ${(100 * net.accuracy_std).toFixed(1)}% right on held-out patches of the book's photographs (mean ± std over ${seeds} seeds; this is seed 0).`
               : `% right on held-out patches of the book's photographs (one seed).`)));
  if (net.sweep || Object.keys(net.swept).length) box.append(sweepControl(net));
  if (state.failed[net.key]) { box.append(el("p", { class: "photograph-message" }, state.failed[net.key])); return box; }
  if (!r) { box.append(el("p", { class: "photograph-small" }, "Waiting…")); return box; }
  box.append(drawMap(net, r, image));
  const counts = new Array(manifest.classes.length).fill(0);
  r.pred.forEach((c) => counts[c]++);
  const top = counts.map((c, i) => [c, i]).sort((a, b) => b[0] - a[0]).slice(0, 2).filter(([c]) => c > 0);
  box.append(el("p", { class: "photograph-small" }, `${r.patches} patches in ${(r.ms / 1000).toFixed(2)} s. Most look like ` +
    top.map(([c, i]) => `${manifest.classes[i]} (${Math.round(100 * c / r.patches)}%)`).join(" and ") + "."));
  if (state.selected >= 0 && state.selected < r.patches) {
    const i = state.selected, k = manifest.classes.length;
    const probs = softmax(Array.from(r.logits.subarray(i * k, (i + 1) * k)));
    box.append(el("p", { class: "photograph-small" }, `Patch ${i} (row ${Math.floor(i / image.cols)}, column ${i % image.cols}): ${manifest.classes[r.pred[i]]}, p = ${probs[r.pred[i]].toFixed(2)}.`));
  }
  if (!r.gates.length) { box.append(el("p", { class: "photograph-small" }, "No attention module: no gates.")); return box; }
  const where = state.selected >= 0 ? `patch ${state.selected}` : "mean over all patches";
  r.scale = scaleFor(...r.range);                               // the theme may have changed
  box.append(el("p", { class: "photograph-small" }, `Gates s, ${where}; colour scale ${r.scale.name}:`));
  const table = el("div", { class: "photograph-gates" });
  for (const g of r.gates) {
    const row = el("div", { class: "photograph-gate", "data-gate": g.name });
    const vec = meanRows(g.vec, r.patches, g.c, state.selected);
    row.append(el("span", { class: "photograph-gatename", title: g.name }, gateLabel(g.name)), strip(vec, r.scale, g.c));
    if (g.map) row.append(spatial(meanRows(g.map, r.patches, g.hw, state.selected), g.h, g.w, r.scale));
    row.append(el("span", { class: "photograph-small" }, `${g.c} ch, ${Math.min(...vec).toFixed(2)}–${Math.max(...vec).toFixed(2)}`));
    table.append(row);
  }
  box.append(table);
  return box;
}

function softmax(v) { const m = Math.max(...v), e = v.map((x) => Math.exp(x - m)), s = e.reduce((a, b) => a + b); return e.map((x) => x / s); }

function render() {
  const out = $("photograph-results");
  out.replaceChildren();
  $("photograph-legend").hidden = !Object.keys(state.results).length;
  if (state.image) for (const net of selectedNetworks()) out.append(panel(net));
  exposeForTests();
}

function exposeForTests() {
  const image = state.image;
  const data = { state: $("photograph").dataset.state, image: null, networks: {}, failed: state.failed };
  if (image) {
    data.image = { name: image.name, width: image.width, height: image.height, source_width: image.sourceWidth,
      source_height: image.sourceHeight, rows: image.rows, cols: image.cols };
    data.shown = selectedNetworks().map((n) => n.key);
    for (const [key, r] of Object.entries(state.results)) {
      data.networks[key] = { logits: Array.from(r.logits), probe_indices: r.probeIdx, probe_gates: r.probes, ms: r.ms, patches: r.patches };
    }
  }
  $("photograph-test-results").textContent = JSON.stringify(data);
}

// ---------------------------------------------------------------- set-up
function init() {
  $("photograph-needs-server").hidden = true;
  $("photograph-app").hidden = false;
  const params = new URLSearchParams(location.search);
  const wanted = (params.get("module") || "").toLowerCase();
  const known = modules;
  if (wanted && !known.includes(wanted)) message(`There is no network for module=${wanted}; the modules are ${known.join(", ")}.`);
  const pick = known.includes(wanted) ? wanted : "se";
  for (const attn of modules) {                                 // one box per module; the r / k control picks within it
    const net = byKey[attn];
    const box = el("input", { type: "checkbox", id: `photograph-net-${attn}`, value: attn });
    box.checked = attn === pick || attn === "none";
    box.addEventListener("change", () => { render(); run(); });
    const more = manifest.networks.filter((o) => o.attn === attn).length - 1;
    $("photograph-network-boxes").append(el("label", { class: "photograph-netlabel" }, box, ` ${net.label} `,
      el("span", { class: "photograph-small" }, `(${mb(net.bytes)}${more ? `; ${more} more ${net.sweep.letter}` : ""})`)));
  }
  const setAll = (on) => { for (const attn of modules) $(`photograph-net-${attn}`).checked = on; render(); run(); };
  $("photograph-all").addEventListener("click", () => setAll(true));
  $("photograph-none").addEventListener("click", () => setAll(false));
  $("photograph-legend").append(...manifest.classes.map((c, i) => el("span", { class: "photograph-class" }, el("i", { style: `background:${CLASS_COLOURS[i]}` }), ` ${c}`)));
  for (const photo of manifest.photos) {
    const b = el("button", { type: "button", "data-photo": photo.name }, photo.name);
    b.addEventListener("click", async () => {
      try {
        status(`Loading the photograph ${photo.name} (${mb(photo.bytes)})…`, null);
        const bytes = await fetchBytes(new URL(photo.file, BASE).href, photo.bytes, `the photograph ${photo.name}`);
        await useImage(new Blob([bytes], { type: "image/png" }), photo.name);
      } catch (e) { message(`The photograph ${photo.name} could not be loaded (${e.message}).`); status(""); setState("error"); }
    });
    $("photograph-photo-buttons").append(b, " ");
  }
  const file = $("photograph-file"), drop = $("photograph-drop");
  file.addEventListener("change", () => { if (file.files[0]) useImage(file.files[0], file.files[0].name); });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("photograph-over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("photograph-over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault(); drop.classList.remove("photograph-over");
    const f = e.dataTransfer.files[0];
    if (f) useImage(f, f.name); else message("Nothing to read was dropped: drop an image file.");
  });
  new MutationObserver(() => render()).observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
  window.addEventListener("unhandledrejection", (e) => { e.preventDefault(); message(`Something went wrong: ${e.reason?.message || e.reason}`); setState("error"); });
  setState("idle");
  render();                                                     // no legend before an image is chosen
}

init();
