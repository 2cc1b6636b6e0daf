// The studio: two parents, one slider per layer group (and per ws row), direction sliders; the child redraws
// as the controls move. Plain JS, no build step. Requests are coalesced per picture: while one is in flight only
// the latest change waits, so a dragged slider never queues a backlog.
"use strict";

const token = new URLSearchParams(location.search).get("token");
const headers = token ? {Authorization: "Bearer " + token} : {};
const $ = (id) => document.getElementById(id);

const state = {
  info: null,
  parents: {a: {seed: 13}, b: {seed: 10}},
  groups: {},        // group name -> t (0 = parent A, 1 = parent B)
  rows: {},          // ws row -> t, set in the advanced view (overrides its group)
  psi: 1,
  noiseMode: "const",
  edits: {},         // direction index -> strength
};

async function api(path, body, init) {
  const response = await fetch(path, Object.assign({
    method: body === undefined ? "GET" : "POST",
    headers: Object.assign({"Content-Type": "application/json"}, headers),
    body: body === undefined ? undefined : JSON.stringify(body),
  }, init || {}));
  if (!response.ok) {
    let message = response.status + " " + response.statusText;
    try { message = (await response.json()).error || message; } catch (e) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

function status(text, isError) {
  const el = $("status");
  el.textContent = text;
  el.classList.toggle("error", !!isError);
}

// One picture kept up to date: run() starts a request now, or remembers it as the one to run next.
class Picture {
  constructor(img, name) { this.img = img; this.name = name; this.busy = false; this.next = null; this.blob = null; this.version = 0; }
  run(makeRequest) {
    if (this.busy) { this.next = makeRequest; return; }
    this.busy = true;
    const t0 = performance.now();
    makeRequest().then(async (response) => {
      const blob = await response.blob();
      if (this.img.dataset.url) URL.revokeObjectURL(this.img.dataset.url);
      const url = URL.createObjectURL(blob);
      this.img.dataset.url = url;
      await new Promise((resolve) => { this.img.onload = resolve; this.img.onerror = resolve; this.img.src = url; });
      this.blob = blob;
      this.version += 1;
      this.img.dataset.version = String(this.version);
      if (this.name === "child") {
        const ms = (performance.now() - t0).toFixed(0);
        status(`child: ${ms} ms in the browser, ${response.headers.get("X-Render-Ms")} ms on the server ` +
               `(batch of ${response.headers.get("X-Batch-Size")})`);
      }
    }).catch((e) => status(`${this.name}: ${e.message}`, true)).finally(() => {
      this.busy = false;
      const next = this.next;
      this.next = null;
      if (next) this.run(next);
    });
  }
}

const pictures = {};

function parentBody(p) {
  return p.ws ? {ws: p.ws} : {seed: p.seed};
}

function renderSettings() {
  return {truncation_psi: state.psi, noise_mode: state.noiseMode};
}

function childChoice() {
  const rows = {};
  for (const [row, t] of Object.entries(state.rows)) rows[row] = t;
  return {groups: Object.assign({}, state.groups), rows};
}

function editsBody() {
  return Object.entries(state.edits).filter(([, s]) => s !== 0).map(([d, s]) => ({direction: Number(d), strength: s}));
}

function childBody(extra) {
  return Object.assign({a: parentBody(state.parents.a), b: parentBody(state.parents.b), edits: editsBody()},
                       childChoice(), renderSettings(), extra || {});
}

function drawParent(which) {
  const p = state.parents[which];
  const body = p.ws ? {ws: p.ws, noise_mode: state.noiseMode}
                    : Object.assign({seeds: [p.seed]}, renderSettings());
  pictures[which].run(() => api("/v1/render", body));
}

function drawChild() {
  pictures.child.run(() => api("/v1/child", childBody()));
}

function drawAll() { drawParent("a"); drawParent("b"); drawChild(); }

function download(blob, name) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.appendChild(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}

function slider(parent, label, min, max, step, value, oninput, format) {
  const wrap = document.createElement("div");
  wrap.className = "slider";
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = label;
  const input = document.createElement("input");
  Object.assign(input, {type: "range", min, max, step, value});
  const out = document.createElement("output");
  const show = () => { out.textContent = format(Number(input.value)); };
  input.addEventListener("input", () => { show(); oninput(Number(input.value)); });
  show();
  wrap.append(name, input, out);
  parent.appendChild(wrap);
  return {input, show};
}

const blendText = (t) => (t === 0 ? "A" : t === 1 ? "B" : `${Math.round((1 - t) * 100)}% A`);

function buildStyleControls(info) {
  const groupsEl = $("groups");
  const rowsEl = $("rows");
  const rowSliders = {};
  const defaults = {coarse: 0, medium: 0, fine: 1};  // A's face, B's colours
  for (const [name, rows] of Object.entries(info.layer_groups)) {
    if (!rows.length) continue;
    state.groups[name] = defaults[name] !== undefined ? defaults[name] : 0;
    const s = slider(groupsEl, `${name} (ws ${rows[0]}-${rows[rows.length - 1]})`, 0, 1, 0.05, state.groups[name],
      (t) => {
        state.groups[name] = t;
        for (const r of rows) { delete state.rows[r]; rowSliders[r].input.value = t; rowSliders[r].show(); }
        drawChild();
      }, blendText);
    s.input.id = `group-${name}`;
    const snap = document.createElement("span");
    snap.className = "snap";
    for (const [text, t] of [["A", 0], ["B", 1]]) {
      const b = document.createElement("button");
      b.textContent = text;
      b.addEventListener("click", () => { s.input.value = t; s.input.dispatchEvent(new Event("input")); });
      snap.appendChild(b);
    }
    s.input.parentNode.appendChild(snap);
  }
  for (let r = 0; r < info.num_ws; r++) {
    const group = Object.keys(info.layer_groups).find((g) => info.layer_groups[g].includes(r)) || "";
    rowSliders[r] = slider(rowsEl, `ws ${r} (${group})`, 0, 1, 0.05, state.groups[group] || 0,
      (t) => { state.rows[r] = t; drawChild(); }, blendText);
    rowSliders[r].input.id = `row-${r}`;
  }
  $("advanced").addEventListener("change", (e) => { rowsEl.hidden = !e.target.checked; });
}

function buildDirections(info) {
  const el = $("directions");
  if (!info.directions.length) return;
  el.textContent = "";
  const sliders = [];
  for (const d of info.directions) {
    const range = Math.max(3 * d.std, 1e-3);
    const s = slider(el, d.name, -range, range, range / 60, 0, (v) => { state.edits[d.index] = v; drawChild(); },
                     (v) => ((v / Math.max(d.std, 1e-9)).toFixed(1) + " sd").replace(/^-0\.0 /, "0.0 "));
    s.input.id = `direction-${d.index}`;
    sliders.push(s);
  }
  $("reset-directions").addEventListener("click", () => {
    state.edits = {};
    for (const s of sliders) { s.input.value = 0; s.show(); }
    drawChild();
  });
}

function setupParent(which) {
  const seedInput = $(`seed-${which}`);
  seedInput.value = state.parents[which].seed;
  const useSeed = () => {
    const seed = Number(seedInput.value);
    if (!Number.isInteger(seed) || seed < 0 || seed > 4294967295) return;
    state.parents[which] = {seed};
    drawParent(which);
    drawChild();
  };
  seedInput.addEventListener("input", useSeed);
  $(`random-${which}`).addEventListener("click", () => {
    seedInput.value = Math.floor(Math.random() * 100000);
    useSeed();
  });
  const photo = $(`photo-${which}`);
  photo.addEventListener("change", () => { if (photo.files.length) projectPhoto(which, photo.files[0]); });
}

async function projectPhoto(which, file) {
  const bar = $(`progress-${which}`);
  bar.hidden = false;
  bar.value = 0;
  try {
    const form = new FormData();
    form.append("image", file);
    const response = await fetch("/v1/project", {method: "POST", headers, body: form});
    const started = await response.json();
    if (!response.ok) throw new Error(started.error);
    status(`parent ${which.toUpperCase()}: projecting the photo (${started.steps} steps)...`);
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const job = await (await api(`/v1/project/${started.job}`)).json();
      bar.value = job.progress;
      if (job.status === "failed") throw new Error(job.error);
      if (job.status === "done") {
        state.parents[which] = {ws: job.ws};
        status(`parent ${which.toUpperCase()}: the photo's latent is in (loss ${job.loss.toFixed(4)})`);
        drawParent(which);
        drawChild();
        break;
      }
    }
  } catch (e) {
    status(`photo: ${e.message}`, true);
  } finally {
    bar.hidden = true;
  }
}

function setupRendering(info) {
  state.psi = info.paper_truncation.psi;
  const psi = $("psi");
  psi.value = state.psi;
  $("psi-value").textContent = Number(state.psi).toFixed(2);
  psi.addEventListener("input", () => {
    state.psi = Number(psi.value);
    $("psi-value").textContent = state.psi.toFixed(2);
    drawAll();
  });
  $("noise-mode").addEventListener("change", (e) => { state.noiseMode = e.target.value; drawAll(); });
}

function setupButtons(info) {
  $("save-png").addEventListener("click", () => {
    if (pictures.child.blob) download(pictures.child.blob, "child.png");
  });
  $("save-latent").addEventListener("click", async () => {
    try {
      download(await (await api("/v1/child", childBody({format: "npz"}))).blob(), "child.npz");
    } catch (e) { status(`save latent: ${e.message}`, true); }
  });
  $("strip").addEventListener("click", () => {
    const names = Object.keys(info.layer_groups).filter((g) => info.layer_groups[g].length);
    const children = [];
    const labels = [];
    for (let mask = 0; mask < (1 << names.length); mask++) {
      const groups = {};
      names.forEach((g, i) => { groups[g] = (mask >> (names.length - 1 - i)) & 1 ? "b" : "a"; });
      children.push({groups});
      labels.push(names.map((g) => groups[g].toUpperCase()).join(""));
    }
    const body = childBody({children, cols: children.length});
    delete body.groups;
    delete body.rows;
    $("strip-panel").hidden = false;
    $("strip-labels").textContent = `${names.join(" / ")}: ` + labels.join("  ");
    pictures.strip.run(() => api("/v1/child", body));
  });
}

async function start() {
  pictures.a = new Picture($("img-a"), "parent A");
  pictures.b = new Picture($("img-b"), "parent B");
  pictures.child = new Picture($("img-child"), "child");
  pictures.strip = new Picture($("img-strip"), "strip");
  let info;
  try {
    info = await (await api("/v1/info")).json();
  } catch (e) {
    $("model").textContent = `cannot reach the API: ${e.message}`;
    return;
  }
  state.info = info;
  $("model").textContent = `${info.arch}, ${info.resolution}x${info.resolution}, ${info.num_ws} ws rows, ` +
    `backend ${info.backend} (${info.ran_on}) on ${info.device}`;
  for (const el of document.querySelectorAll(".photo")) el.hidden = !info.projection;
  buildStyleControls(info);
  buildDirections(info);
  setupParent("a");
  setupParent("b");
  setupRendering(info);
  setupButtons(info);
  drawAll();
  document.body.dataset.ready = "1";
}

start();
