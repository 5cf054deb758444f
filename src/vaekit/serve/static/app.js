// vaekit serve: the page. Plain JavaScript, no libraries: everything it needs comes from the
// package, so it works offline. Views are picked by the URL's hash: #/runs, #/run/ID,
// #/explore/ID[,ID2], #/describe/ID[,ID2][/STATE], #/play/ID, #/train.
"use strict";

const TOKEN = new URLSearchParams(location.search).get("token") || sessionStorage.getItem("vaekit-token") || "";
if (TOKEN) sessionStorage.setItem("vaekit-token", TOKEN);
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const $ = (sel, root = document) => root.querySelector(sel);
const view = $("#view");
let RUNS = null, PAIR = [];
window.vaekit = { frames: 0, ready: false };  // read by the tests and the benchmark

// ---------------------------------------------------------------- talking to the server
async function api(path, body, raw) {
  const opts = { headers: { "X-Vaekit-Token": TOKEN } };
  if (body !== undefined) {
    opts.method = "POST";
    if (raw) { opts.body = body; opts.headers["Content-Type"] = "application/octet-stream"; }
    else { opts.body = JSON.stringify(body); opts.headers["Content-Type"] = "application/json"; }
  }
  const res = await fetch(path, opts);
  if (!res.ok) {
    let reason = res.statusText;
    try { reason = (await res.json()).error; } catch (e) { /* not JSON */ }
    throw new Error(reason);
  }
  return (res.headers.get("content-type") || "").startsWith("image/") ? URL.createObjectURL(await res.blob()) : res.json();
}
function say(message) { $("#status").textContent = message || ""; }
async function guarded(fn) { try { say(""); return await fn(); } catch (e) { say(e.message); console.error(e); } }

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "class") node.className = v;
    else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c.nodeType ? c : String(c));
  return node;
}
const fmt = (v, d = 2) => v === null || v === undefined ? "–" : typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(d)) : String(v);
const runLabel = (id) => { const r = (RUNS || []).find((x) => x.id === id); return r ? r.run : id; };
async function loadRuns() { const out = await api("/api/runs"); RUNS = out.runs; PAIR = out.pair; return RUNS; }

// ---------------------------------------------------------------- router
const VIEWS = { runs: runsView, run: runView, explore: exploreView, describe: describeView, play: playView, train: trainView };
let cleanup = [];
async function route() {
  cleanup.forEach((f) => f()); cleanup = [];
  $("#tip").hidden = true;  // a hover card belongs to the view it was shown on
  window.vaekit.ready = false;
  if (RUNS === null) await guarded(loadRuns);
  let [, name, arg] = location.hash.split("/");
  if (!name) { name = PAIR.length ? "explore" : "runs"; arg = PAIR.join(","); }
  if (!VIEWS[name]) name = "runs";
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", a.dataset.nav === name));
  view.replaceChildren();
  await guarded(() => VIEWS[name](arg ? decodeURIComponent(arg) : ""));
  window.vaekit.ready = true;
}
window.addEventListener("hashchange", route);

// ---------------------------------------------------------------- runs table
const COLUMNS = ["run", "data", "model", "backbone", "latent", "epochs", "test_loss", "date"];
async function runsView() {
  await loadRuns();
  let sortKey = "date", filter = "";
  const picked = new Set();
  const table = el("table", { id: "runs" });
  const compare = el("button", { disabled: true, onclick: () => { location.hash = `#/explore/${[...picked].join(",")}`; } }, "Explore side by side");
  const draw = () => {
    const rows = RUNS.filter((r) => !filter || COLUMNS.some((c) => String(r[c] ?? "").toLowerCase().includes(filter)))
      .sort((a, b) => (a[sortKey] ?? "") < (b[sortKey] ?? "") ? (sortKey === "date" ? 1 : -1) : (a[sortKey] ?? "") > (b[sortKey] ?? "") ? (sortKey === "date" ? -1 : 1) : 0);
    table.replaceChildren(
      el("tr", {}, el("th", {}, ""), COLUMNS.map((c) => el("th", { onclick: () => { sortKey = c; draw(); } }, c.replace("_", " ") + (c === sortKey ? " ▾" : ""))), el("th", {}, "")),
      ...rows.map((r) => el("tr", { "data-id": r.id },
        el("td", {}, el("input", { type: "checkbox", checked: picked.has(r.id), onchange: (e) => { e.target.checked ? picked.add(r.id) : picked.delete(r.id); compare.disabled = picked.size < 1 || picked.size > 2; } })),
        COLUMNS.map((c) => el("td", { class: ["latent", "epochs", "test_loss"].includes(c) ? "num" : "" }, c === "run" ? el("a", { href: `#/run/${r.id}` }, r.run) : fmt(r[c]))),
        el("td", {}, el("a", { href: `#/explore/${r.id}` }, "explore"), " · ", el("a", { href: `#/play/${r.id}` }, "play"), r.status === "unfinished" ? el("span", { class: "muted" }, " (unfinished)") : null))));
  };
  view.append(el("h1", {}, "Runs"),
    el("div", { class: "row", style: "margin-bottom:10px" },
      el("input", { id: "filter", placeholder: "filter (data, model, name…)", oninput: (e) => { filter = e.target.value.toLowerCase(); draw(); } }),
      compare, el("span", { class: "muted" }, `${RUNS.length} runs`)),
    RUNS.length ? table : el("p", { class: "muted" }, "No runs here yet: train one (Train tab, or `vaekit train`)."));
  draw();
}

// ---------------------------------------------------------------- one run
async function runView(id) {
  const run = await api(`/api/runs/${id}`);
  const m = run.metrics, model = run.model, s = run.summary;
  view.append(el("h1", {}, run.name),
    el("p", { class: "muted" }, `${model.model} · ${model.backbone} · latent ${model.latent_dim} · ${(run.config.train || {}).data || ""}`,
      " · ", el("a", { href: `#/explore/${id}` }, "explore its latent space"), " · ", el("a", { href: `#/play/${id}` }, "playground")));
  const chart = el("canvas", { id: "curves", width: 760, height: 300 });
  const shown = new Set(m.columns.filter((c) => c === "train_loss" || c === "val_loss"));
  const terms = m.columns.filter((c) => c !== "epoch" && c !== "epoch_seconds" && c !== "lr");
  const redraw = () => lineChart(chart, m, [...shown]);
  view.append(el("div", { class: "card" }, el("h2", {}, "Training curves"),
    el("div", { class: "toggles" }, terms.map((c) => el("label", {}, el("input", { type: "checkbox", checked: shown.has(c), onchange: (e) => { e.target.checked ? shown.add(c) : shown.delete(c); redraw(); } }), c))),
    m.rows.length ? chart : el("p", { class: "muted" }, "No epoch finished yet.")));
  redraw();
  if (run.grid_epochs.length) {
    const last = run.grid_epochs[run.grid_epochs.length - 1];
    const recon = el("img", { class: "pix", style: "width:380px" }), samples = el("img", { class: "pix", style: "width:380px" });
    const label = el("span", {});
    const show = (e) => { recon.src = `/api/runs/${id}/grids/recon/${e}.png`; samples.src = `/api/runs/${id}/grids/samples/${e}.png`; label.textContent = `epoch ${e}`; };
    const slider = el("input", { type: "range", min: 0, max: run.grid_epochs.length - 1, value: run.grid_epochs.length - 1, oninput: (e) => show(run.grid_epochs[e.target.value]) });
    view.append(el("div", { class: "card" }, el("h2", {}, "Reconstructions and samples by epoch"), el("div", {}, slider, " ", label),
      el("div", { class: "row" }, el("figure", {}, recon, el("figcaption", {}, "test images (odd rows), each above its reconstruction")), el("figure", {}, samples, el("figcaption", {}, "decoded draws from the prior")))));
    show(last);
  }
  if ((run.eval || {}).disentanglement) view.append(factorCard(id, run.eval.disentanglement));
  const numbers = { ...s, ...Object.fromEntries(Object.entries(run.eval || {}).map(([k, v]) => [`eval.${k}`, v])) };
  view.append(el("div", { class: "row" },
    el("div", { class: "card", style: "flex:1;min-width:320px" }, el("h2", {}, "Results"),
      Object.keys(numbers).length ? el("table", { class: "kv" }, Object.entries(numbers).filter(([, v]) => typeof v !== "object").map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", {}, fmt(v, 4))))) : el("p", { class: "muted" }, "not finished")),
    el("div", { class: "card", style: "flex:1;min-width:320px" }, el("h2", {}, "Config"), el("pre", {}, JSON.stringify(run.config, null, 2)))));
}

// what `vaekit evaluate --disentanglement` found: the scores, the latent x factor mutual
// information as a heat map, and each dimension's traversal labelled with the factor it captures
function factorCard(id, d) {
  const info = d.mutual_information, top = Math.max(1e-9, ...info.flat());
  const shade = (v) => { const t = v / top; return `hsl(${250 - 190 * t}, 65%, ${94 - 50 * t}%)`; };
  const scores = [["MIG", d.mig], ["FactorVAE score", d.factor_vae], ["β-VAE score", d.beta_vae], ["SAP", d.sap],
    ["DCI disentanglement", d.dci_disentanglement], ["completeness", d.dci_completeness], ["informativeness", d.dci_informativeness]];
  const table = el("table", { id: "factors", class: "heat" },
    el("tr", {}, el("th", {}, ""), d.factors.map((f) => el("th", {}, f)), el("th", {}, "captures"), el("th", {}, "from −3 to 3, the others at 0")),
    info.map((row, i) => el("tr", { "data-dim": i }, el("th", {}, `z${i}`),
      row.map((v) => el("td", { style: `background:${shade(v)};color:${v > 0.6 * top ? "#fff" : "#111"}`, title: `${fmt(v, 3)} nats` }, fmt(v, 2))),
      el("td", { class: "captures" }, d.captures[i] || "–"),
      el("td", {}, el("img", { class: "pix strip", src: `/api/runs/${id}/traverse/${i}.png`, alt: `z${i} traversal` })))));
  return el("div", { class: "card" }, el("h2", {}, "Disentanglement"),
    el("p", {}, scores.map(([k, v]) => `${k} ${fmt(v, 2)}`).join(" · ")),
    table, el("p", { class: "muted" }, `Mutual information (nats) between each latent dimension and each factor. ${d.protocol}.`));
}

function lineChart(canvas, metrics, columns) {
  const ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height, pad = { l: 56, r: 12, t: 10, b: 28 };
  const xi = metrics.columns.indexOf("epoch");
  const series = columns.map((c) => ({ name: c, i: metrics.columns.indexOf(c) })).filter((s) => s.i >= 0);
  const draw = (hover) => {
    ctx.clearRect(0, 0, W, H);
    const pts = metrics.rows.map((r) => r[xi]);
    const ys = series.flatMap((s) => metrics.rows.map((r) => r[s.i]).filter((v) => v !== null));
    if (!pts.length || !ys.length) return;
    let [x0, x1] = [Math.min(...pts), Math.max(...pts)], [y0, y1] = [Math.min(...ys), Math.max(...ys)];
    if (x0 === x1) { x0 -= 1; x1 += 1; } if (y0 === y1) { y0 -= 1; y1 += 1; }
    const X = (v) => pad.l + (v - x0) / (x1 - x0) * (W - pad.l - pad.r), Y = (v) => H - pad.b - (v - y0) / (y1 - y0) * (H - pad.t - pad.b);
    ctx.strokeStyle = "#d9dee7"; ctx.fillStyle = "#667085"; ctx.font = "11px system-ui"; ctx.lineWidth = 1;
    for (let k = 0; k <= 4; k++) { const v = y0 + (y1 - y0) * k / 4; ctx.beginPath(); ctx.moveTo(pad.l, Y(v)); ctx.lineTo(W - pad.r, Y(v)); ctx.stroke(); ctx.fillText(fmt(v, 2), 4, Y(v) + 4); }
    ctx.fillText("epoch", W - 44, H - 6); ctx.fillText(fmt(x0), pad.l, H - 10); ctx.fillText(fmt(x1), W - pad.r - 20, H - 10);
    series.forEach((s, k) => {
      ctx.strokeStyle = PALETTE[k % 10]; ctx.lineWidth = 2; ctx.beginPath();
      metrics.rows.forEach((r, j) => { if (r[s.i] !== null) (j ? ctx.lineTo : ctx.moveTo).call(ctx, X(r[xi]), Y(r[s.i])); });
      ctx.stroke(); ctx.fillStyle = PALETTE[k % 10]; ctx.fillText(s.name, pad.l + 8 + 110 * k, pad.t + 12);
      if (metrics.rows.length === 1) { ctx.beginPath(); ctx.arc(X(metrics.rows[0][xi]), Y(metrics.rows[0][s.i]), 3, 0, 7); ctx.fill(); }
    });
    if (hover !== undefined) {
      const r = metrics.rows[hover]; ctx.strokeStyle = "#98a2b3"; ctx.beginPath(); ctx.moveTo(X(r[xi]), pad.t); ctx.lineTo(X(r[xi]), H - pad.b); ctx.stroke();
      const lines = [`epoch ${r[xi]}`, ...series.map((s) => `${s.name} ${fmt(r[s.i], 4)}`)];
      ctx.fillStyle = "rgba(255,255,255,.92)"; ctx.fillRect(X(r[xi]) + 6, pad.t + 18, 170, 16 * lines.length + 6);
      ctx.fillStyle = "#1d2330"; lines.forEach((t, k) => ctx.fillText(t, X(r[xi]) + 12, pad.t + 34 + 16 * k));
    }
    canvas._x = { X, x0, x1 };
  };
  canvas.onmousemove = (e) => {
    if (!canvas._x || !metrics.rows.length) return;
    const rect = canvas.getBoundingClientRect(), px = (e.clientX - rect.left) * canvas.width / rect.width;
    let best = 0; metrics.rows.forEach((r, j) => { if (Math.abs(canvas._x.X(r[xi]) - px) < Math.abs(canvas._x.X(metrics.rows[best][xi]) - px)) best = j; });
    draw(best);
  };
  canvas.onmouseleave = () => draw();
  draw();
}

// ---------------------------------------------------------------- the latent map
// A panel draws one run's test codes on the plane the server chose (the codes themselves for a
// 2-D latent, else their first two principal directions), the prior's 1/2/3 sigma circles, and
// the shared pointer; it decodes the pointer's code, one request in flight at a time.
class MapPanel {
  constructor(id, data, size = 420) {
    this.id = id; this.data = data; this.size = size;
    this.canvas = el("canvas", { class: "map", width: size, height: size, "data-run": id });
    this.img = el("img", { class: "pix decoded", alt: "decoded image", "data-run": id });
    this.want = null; this.busy = false; this.base = "mean"; this.baseCode = null; this.frames = 0; this.label = null;
  }
  // plane (x, y) -> full code z: the base code with its in-plane part replaced by (x, y)
  code(xy) {
    const d = this.data.latent_dim, B = this.data.basis;
    if (d <= 2) return d === 1 ? [xy[0]] : [xy[0], xy[1]];
    const base = this.base === "zero" ? new Array(d).fill(0) : this.base === "mean" ? this.data.mean : this.baseCode || this.data.mean;
    const p = [0, 1].map((k) => base.reduce((s, v, j) => s + v * B[k][j], 0));
    return base.map((v, j) => v + (xy[0] - p[0]) * B[0][j] + (xy[1] - p[1]) * B[1][j]);
  }
  project(z) { return [0, 1].map((k) => z.reduce((s, v, j) => s + v * this.data.basis[k][j], 0)); }
  decode(z) { this.want = z; if (!this.busy) this.pump(); }
  async pump() {
    this.busy = true;
    while (this.want) {
      const z = this.want; this.want = null;
      try {
        const url = await api(`/api/runs/${this.id}/decode`, { z, label: this.label });
        await new Promise((ok) => { this.img.onload = ok; this.img.onerror = ok; const old = this.img.src; this.img.src = url; if (old.startsWith("blob:")) URL.revokeObjectURL(old); });
        this.shown = z; this.frames++; window.vaekit.frames++;  // shown: the code the image decodes
      } catch (e) { say(e.message); }
    }
    this.busy = false;
  }
  draw(view, marker, ellipse) {
    const ctx = this.canvas.getContext("2d"), S = this.size, [x0, x1, y0, y1] = view;
    const X = (v) => (v - x0) / (x1 - x0) * S, Y = (v) => S - (v - y0) / (y1 - y0) * S;
    this.toPlane = (px, py) => [x0 + px / S * (x1 - x0), y0 + (S - py) / S * (y1 - y0)];
    this.toCanvas = (p) => [X(p[0]), Y(p[1])];
    ctx.clearRect(0, 0, S, S);
    ctx.strokeStyle = "#eaecf0"; ctx.lineWidth = 1;
    ctx.beginPath(); ctx.moveTo(X(0), 0); ctx.lineTo(X(0), S); ctx.moveTo(0, Y(0)); ctx.lineTo(S, Y(0)); ctx.stroke();
    const pts = this.data.points, labels = this.data.labels;
    for (let i = 0; i < pts.length; i++) {
      ctx.fillStyle = labels ? PALETTE[labels[i] % 10] : "#2f6fed"; ctx.globalAlpha = 0.55;
      ctx.fillRect(X(pts[i][0]) - 1.5, Y(pts[i][1]) - 1.5, 3, 3);
    }
    ctx.globalAlpha = 1; ctx.strokeStyle = "#344054"; ctx.setLineDash([4, 4]);
    for (const r of [1, 2, 3]) { ctx.beginPath(); ctx.ellipse(X(0), Y(0), r / (x1 - x0) * S, r / (y1 - y0) * S, 0, 0, 7); ctx.stroke(); }
    ctx.setLineDash([]); ctx.fillStyle = "#667085"; ctx.font = "11px system-ui";
    ctx.fillText("prior 1σ 2σ 3σ", 6, S - 6); ctx.fillText(`${this.data.axes[0]} / ${this.data.axes[1]}`, S - 70, S - 6);
    if (ellipse) {
      ctx.strokeStyle = "#d62728"; ctx.lineWidth = 2; ctx.beginPath();
      ctx.ellipse(X(ellipse.center[0]), Y(ellipse.center[1]), Math.max(ellipse.radii[1] / (x1 - x0) * S, 1), Math.max(ellipse.radii[0] / (y1 - y0) * S, 1), -ellipse.angle, 0, 7); ctx.stroke();
    }
    if (marker) {
      const [mx, my] = [Math.min(Math.max(X(marker[0]), 4), S - 4), Math.min(Math.max(Y(marker[1]), 4), S - 4)];
      ctx.strokeStyle = "#111"; ctx.lineWidth = 2; ctx.beginPath(); ctx.arc(mx, my, 7, 0, 7); ctx.moveTo(mx - 11, my); ctx.lineTo(mx + 11, my); ctx.moveTo(mx, my - 11); ctx.lineTo(mx, my + 11); ctx.stroke();
    }
  }
  nearest(px, py, within = 6) {
    let best = -1, dist = within * within;
    this.data.points.forEach((p, i) => { const [cx, cy] = this.toCanvas(p); const d = (cx - px) ** 2 + (cy - py) ** 2; if (d < dist) { dist = d; best = i; } });
    return best;
  }
}

function legend(data) {
  if (!data.labels) return null;
  const names = data.class_names.length ? data.class_names : [...new Set(data.labels)].sort((a, b) => a - b).map(String);
  return el("div", { class: "legend" }, names.slice(0, 20).map((n, k) => el("span", {}, el("i", { style: `background:${PALETTE[k % 10]}` }), n)));
}

// The maps share one frame, so the shared pointer is the same code at the same place on each.
// By default the frame is where the prior N(0, I) puts its mass (the seeds' experiment: random
// N(0, I) codes decoded by both); "all codes" fits every run's test codes instead.
const PRIOR_FRAME = [-3.6, 3.6, -3.6, 3.6];
function viewOf(datas, fit = false) {
  let [x0, x1, y0, y1] = PRIOR_FRAME;
  if (!fit) return [x0, x1, y0, y1];
  for (const d of datas) { x0 = Math.min(x0, d.extent[0]); x1 = Math.max(x1, d.extent[1]); y0 = Math.min(y0, d.extent[2]); y1 = Math.max(y1, d.extent[3]); }
  const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2, half = Math.max(x1 - x0, y1 - y0) / 2 * 1.08;
  return [cx - half, cx + half, cy - half, cy + half];
}

function showTip(e, content) {
  const tip = $("#tip");
  if (!content) { tip.hidden = true; return; }
  tip.replaceChildren(...content); tip.hidden = false;
  tip.style.left = `${e.clientX + 14}px`; tip.style.top = `${e.clientY + 14}px`;
}

async function exploreView(arg) {
  if (!RUNS.length) { view.append(el("p", { class: "muted" }, "No runs to explore yet.")); return; }
  const ids = (arg ? arg.split(",") : PAIR.length ? PAIR : [RUNS[0].id]).slice(0, 2);
  const datas = await Promise.all(ids.map((id) => api(`/api/runs/${id}/codes`)));
  const panels = ids.map((id, k) => new MapPanel(id, datas[k], ids.length > 1 ? 320 : 480));
  const main = panels[0];
  let frame = viewOf(datas), xy = [0, 0];
  const redraw = () => panels.forEach((p) => p.draw(frame, xy));
  const moveTo = (point, from) => {
    xy = point; redraw();
    panels.forEach((p) => p.decode(p === from && from.fullCode ? from.fullCode : p.code(xy)));
    if (from !== main || !main.fullCode) syncSliders(main.code(xy));
  };
  const picker = el("select", { onchange: (e) => { location.hash = `#/explore/${[e.target.value, ...ids.slice(1)].join(",")}`; } }, RUNS.map((r) => el("option", { value: r.id, selected: r.id === ids[0] }, r.run)));
  const second = el("select", { onchange: (e) => { location.hash = `#/explore/${[ids[0], e.target.value].filter(Boolean).join(",")}`; } },
    el("option", { value: "" }, "(none)"), RUNS.map((r) => el("option", { value: r.id, selected: r.id === ids[1] }, r.run)));
  view.append(el("h1", {}, "Latent explorer"),
    el("p", { class: "muted" }, "Move the pointer over a map: every run decodes the same code, the one under it. Dots are test images' codes (hover one to see it); dashed circles are the prior N(0, I) at 1, 2 and 3σ, where random codes land when a model generates. Scroll to zoom; \"all codes\" shows every code."),
    el("div", { class: "row" }, el("label", {}, "run", picker), el("label", {}, "side by side with", second),
      main.data.latent_dim > 2 ? el("label", {}, "other directions held at", el("select", { id: "base", onchange: (e) => { panels.forEach((p) => { p.base = e.target.value; }); moveTo(xy); } },
        el("option", { value: "mean" }, "the codes' mean"), el("option", { value: "zero" }, "zero"), el("option", { value: "image" }, "a test image's code (click a dot)"))) : null,
      panels.some((p) => p.data.conditional) ? el("label", {}, "class (conditional runs)", el("select", { id: "class", onchange: (e) => {
        panels.forEach((p) => { if (p.data.conditional) p.label = Number(e.target.value); }); moveTo(xy); } },
        (panels.find((p) => p.data.conditional).data.class_names).map((n, k) => el("option", { value: k }, n)))) : null,
      el("button", { class: "plain", onclick: () => { frame = viewOf(datas); redraw(); } }, "prior's region"),
      el("button", { class: "plain", id: "fit", onclick: () => { frame = viewOf(datas, true); redraw(); } }, "all codes")));
  const grid = el("div", { class: "row", id: "panels" });
  panels.forEach((p, k) => {
    grid.append(el("div", { class: "card panel" }, el("strong", {}, `${runLabel(p.id)} · ${p.data.latent_dim}-D · ${p.data.test_images} test images`),
      el("div", { class: "row" }, p.canvas, el("figure", {}, p.img, el("figcaption", {}, "decoded at the pointer"))), legend(p.data)));
    p.canvas.addEventListener("pointermove", (e) => {
      const rect = p.canvas.getBoundingClientRect(), px = e.clientX - rect.left, py = e.clientY - rect.top;
      p.fullCode = null; moveTo(p.toPlane(px, py), p);
      const near = p.nearest(px, py);
      showTip(e, near >= 0 ? [el("img", { class: "pix thumb", src: `/api/runs/${p.id}/test/${p.data.index[near]}.png` }),
        el("div", {}, `test image ${p.data.index[near]}` + (p.data.labels ? ` · ${(p.data.class_names[p.data.labels[near]] ?? p.data.labels[near])}` : ""))] : null);
    });
    p.canvas.addEventListener("pointerleave", (e) => showTip(e, null));
    p.canvas.addEventListener("click", async (e) => {
      const rect = p.canvas.getBoundingClientRect(), near = p.nearest(e.clientX - rect.left, e.clientY - rect.top);
      if (near < 0 || p.data.latent_dim <= 2) return;
      const out = await guarded(() => api(`/api/runs/${p.id}/play`, { source: { test: p.data.index[near] } }));
      if (out) { p.baseCode = out.code; p.base = "image"; const b = $("#base"); if (b) b.value = "image"; moveTo(p.project(out.code), p); }
    });
    p.canvas.addEventListener("wheel", (e) => {
      e.preventDefault();
      const rect = p.canvas.getBoundingClientRect(), [cx, cy] = p.toPlane(e.clientX - rect.left, e.clientY - rect.top), f = Math.exp(e.deltaY * 0.001);
      frame = [cx + (frame[0] - cx) * f, cx + (frame[1] - cx) * f, cy + (frame[2] - cy) * f, cy + (frame[3] - cy) * f]; redraw();
    }, { passive: false });
  });
  view.append(grid);
  // sliders for the first run's first 32 latent dimensions
  const d = Math.min(main.data.latent_dim, 32), sliders = [];
  const box = el("div", { class: "sliders", id: "sliders" });
  for (let j = 0; j < d; j++) {
    const out = el("span", { class: "muted" }, "0.00");
    const s = el("input", { type: "range", min: -4, max: 4, step: 0.01, value: 0, "data-dim": j, oninput: () => {
      const z = main.code(xy).slice(); sliders.forEach((t, i) => { z[i] = Number(t.value); });
      out.textContent = Number(s.value).toFixed(2); main.fullCode = z; main.baseCode = z; if (main.data.latent_dim > 2) main.base = "image";
      moveTo(main.project(z), main);
    } });
    s.out = out; sliders.push(s); box.append(el("label", {}, `z${j + 1}`, s, out));
  }
  function syncSliders(z) { sliders.forEach((s, i) => { s.value = z[i]; s.out.textContent = z[i].toFixed(2); }); }
  view.append(el("div", { class: "card" }, el("h2", {}, `Latent dimensions of ${runLabel(main.id)}` + (main.data.latent_dim > 32 ? " (first 32)" : "")), box));
  moveTo([0, 0]);
  window.vaekit.panels = panels;
}

// ---------------------------------------------------------------- describe (the sketch artist)
// #/describe/ID[,ID2]/STATE: the state (start, slider positions) lives in the URL, so a face can
// be bookmarked or sent. STATE: from=average|sample:SEED|test:INDEX & one NAME=VALUE per moved slider.
async function describeView(arg) {
  if (!RUNS.length) { view.append(el("p", { class: "muted" }, "No runs yet.")); return; }
  const ids = (arg ? arg.split(",") : PAIR.length ? PAIR : [RUNS[0].id]).slice(0, 2);
  const state = Object.fromEntries(new URLSearchParams(location.hash.split("/")[3] || ""));
  const infos = await Promise.all(ids.map((id) => api(`/api/runs/${id}/describe`)));
  const names = [...new Set(infos.flatMap((d) => Object.keys(d.attributes)))];
  const pcs = Math.max(...infos.map((d) => d.principal.length));
  const starts = infos.map((d) => d.centre.slice());
  const faces = ids.map((id) => el("img", { class: "pix face", "data-run": id, alt: "the described face" }));
  const values = {};  // slider name -> position
  let pending = false;
  const code = (k) => {
    const d = infos[k], z = starts[k].slice();
    for (const [name, v] of Object.entries(values)) {
      const dir = name.startsWith("pc") ? (d.principal[Number(name.slice(2)) - 1] || {}).direction : (d.attributes[name] || {}).direction;
      if (dir && v) dir.forEach((x, i) => { z[i] += v * x; });
    }
    return z.map((x) => Math.max(-50, Math.min(50, x)));
  };
  const keep = () => {
    const q = new URLSearchParams({ from: state.from || "average" });
    for (const [k, v] of Object.entries(values)) if (v) q.set(k, v.toFixed(2));
    history.replaceState(null, "", `#/describe/${ids.join(",")}/${q}`);
  };
  const render = () => {
    keep();
    if (pending) return;
    pending = true;
    requestAnimationFrame(async () => {
      pending = false;
      await guarded(() => Promise.all(ids.map(async (id, k) => {
        const url = await api(`/api/runs/${id}/decode`, { z: code(k) });
        faces[k].src = url; window.vaekit.frames += 1;
      })));
    });
  };
  async function startFrom(from) {
    const [kind, n] = from.split(":");
    const loaded = await guarded(async () => {
      const codes = await Promise.all(ids.map(async (id, k) => {
        if (kind === "sample") return (await api(`/api/runs/${id}/sample-code/${Number(n) || 0}`)).code;
        if (kind === "test") return (await api(`/api/runs/${id}/play`, { source: { test: Number(n) || 0 } })).code;
        return infos[k].centre.slice();
      }));
      codes.forEach((z, k) => { starts[k] = z; });  // every run's start at once, or none
      return true;
    });
    if (!loaded) return;  // the message says why; the faces and the URL keep the start they had
    state.from = from;  // only now: the URL never names a start the faces are not drawn from
    render();
  }
  async function fromPhoto(f) {
    await guarded(() => Promise.all(ids.map(async (id, k) => {
      const up = await api(`/api/runs/${id}/upload`, await f.arrayBuffer(), true);
      starts[k] = (await api(`/api/runs/${id}/play`, { source: { upload: up.upload } })).code;
    })));
    state.from = "photo"; render();
  }
  const slider = (name, label, extra) => {
    const v = Number(state[name]) || 0;
    values[name] = v;
    const out = el("span", { class: "muted" }, v.toFixed(2));
    const input = el("input", { type: "range", min: -3, max: 3, step: 0.05, value: v, "data-name": name, oninput: () => {
      values[name] = Number(input.value); out.textContent = values[name].toFixed(2); render();
    } });
    return el("label", { class: "describe" }, label, extra ? extra[0] : null, input, extra ? extra[1] : null, out);
  };
  const file = el("input", { type: "file", accept: "image/*", onchange: () => file.files[0] && fromPhoto(file.files[0]) });
  const drop = el("div", { id: "drop" }, "Drop a photo here to start from it, or ", file);
  ["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); }));
  ["dragleave", "drop"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.remove("over"); }));
  drop.addEventListener("drop", (e) => { if (e.dataTransfer.files[0]) fromPhoto(e.dataTransfer.files[0]); });
  const seed = el("input", { type: "number", min: 0, value: 0, style: "width:70px" });
  const pick = (i) => el("select", { onchange: (e) => { location.hash = `#/describe/${(i ? [ids[0], e.target.value] : [e.target.value, ...ids.slice(1)]).filter(Boolean).join(",")}`; } },
    i ? el("option", { value: "" }, "(none)") : null, RUNS.map((r) => el("option", { value: r.id, selected: r.id === ids[i] }, r.run)));
  view.append(el("h1", {}, "Describe a face"),
    el("p", { class: "muted" }, "Start from the average face, a sample (the run's own sampler) or a photo, then describe: each attribute slider adds its direction (found by `vaekit attributes RUN`: the mean code of the faces with it minus those without), each PC slider moves along one of the codes' main directions, in standard deviations. Both runs take the same description."),
    el("div", { class: "row" }, el("label", {}, "run", pick(0)), el("label", {}, "side by side with", pick(1)),
      el("button", { class: "plain", onclick: () => startFrom("average") }, "average face"),
      el("button", { class: "plain", id: "from-sample", onclick: () => startFrom(`sample:${seed.value}`) }, "a sample"), seed,
      el("button", { class: "plain", onclick: () => { Object.keys(values).forEach((k) => { values[k] = 0; }); view.querySelectorAll("input[type=range]").forEach((r) => { r.value = 0; r.dispatchEvent(new Event("input")); }); } }, "reset sliders")),
    drop,
    el("div", { class: "row", id: "faces" }, ids.map((id, k) => el("figure", { class: "card" }, faces[k], el("figcaption", {}, runLabel(id))))));
  const named = el("div", { class: "sliders", id: "attributes" },
    names.length ? names.map((n) => slider(n, n.replace(/_/g, " "), null)) : el("p", { class: "muted" }, "No named attributes for these runs yet: `vaekit attributes RUN --labels FILE` finds them (the built-in faces ship their labels)."));
  const principal = el("div", { class: "sliders", id: "principal" }, Array.from({ length: pcs }, (_, i) => {
    const d = infos[0].principal[i];
    const ends = d ? [el("img", { class: "pix end", src: d.ends[0], title: "two standard deviations below" }), el("img", { class: "pix end", src: d.ends[1], title: "two standard deviations above" })] : null;
    return slider(`pc${i + 1}`, `PC${i + 1}` + (d ? ` (${(100 * d.share).toFixed(0)}%)` : ""), ends);
  }));
  view.append(el("div", { class: "card" }, el("h2", {}, "Named attributes"), named),
    el("div", { class: "card" }, el("h2", {}, "Main directions of the codes"), principal));
  await startFrom(state.from && state.from !== "photo" ? state.from : "average");
  window.vaekit.describe = { ids, names, values, starts };
}

// ---------------------------------------------------------------- playground
async function playView(arg) {
  if (!RUNS.length) { view.append(el("p", { class: "muted" }, "No runs yet.")); return; }
  const id = arg || PAIR[1] || RUNS[0].id;
  const [detail, data] = await Promise.all([api(`/api/runs/${id}`), api(`/api/runs/${id}/codes`)]);
  const panel = new MapPanel(id, data, 300);
  let source = { test: 0 };
  const index = el("input", { type: "number", min: 0, max: data.test_images - 1, value: 0, style: "width:90px", onchange: () => { source = { test: Number(index.value) }; refresh(); } });
  const corruption = el("select", { onchange: () => refresh() }, ["gaussian:0.5", "gaussian:0.25", "saltpepper:0.2", "erase:0.25", "watermark:SAMPLE"].map((c) => el("option", { value: c }, c)));
  const file = el("input", { type: "file", accept: "image/*", onchange: () => file.files[0] && upload(file.files[0]) });
  const drop = el("div", { id: "drop" }, "Drop an image here (any size or mode; fitted as vaekit reconstruct fits it), or ", file);
  ["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); }));
  ["dragleave", "drop"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.remove("over"); }));
  drop.addEventListener("drop", (e) => { if (e.dataTransfer.files[0]) upload(e.dataTransfer.files[0]); });
  const imgs = Object.fromEntries(["input", "recon", "noisy", "denoised", "heatmap"].map((k) => [k, el("img", { class: "pix thumb", id: `play-${k}` })]));
  const caption = Object.fromEntries(["recon", "noisy", "denoised", "heatmap"].map((k) => [k, el("figcaption", {}, k)]));
  const hist = el("canvas", { width: 320, height: 120, id: "scores" });
  async function upload(f) {
    await guarded(async () => {
      const out = await api(`/api/runs/${id}/upload`, await f.arrayBuffer(), true);
      source = { upload: out.upload }; await refresh();
    });
  }
  async function refresh() {
    await guarded(async () => {
      const out = await api(`/api/runs/${id}/play`, { source, corruption: corruption.value });
      for (const k of ["input", "recon", "noisy", "denoised", "heatmap"]) imgs[k].src = out[k];
      caption.recon.textContent = `reconstruction · ${out.psnr_recon.toFixed(1)} dB`;
      caption.noisy.textContent = `${out.corruption} · ${out.psnr_noisy.toFixed(1)} dB`;
      caption.denoised.textContent = `denoised · ${out.psnr_denoised.toFixed(1)} dB`;
      caption.heatmap.textContent = `squared error · score ${out.score.toFixed(4)}`;
      drawHistogram(hist, out.histogram, out.score, out.percentile);
      panel.draw(viewOf([data], true), out.mu, { center: out.mu, radii: out.ellipse.radii, angle: out.ellipse.angle });
      window.vaekit.play = out;
    });
  }
  view.append(el("h1", {}, `Playground · ${detail.name}`),
    el("div", { class: "card" }, el("div", { class: "row" }, el("label", {}, "test image", index),
      el("button", { class: "plain", onclick: () => { index.value = Math.floor(Math.random() * data.test_images); index.onchange(); } }, "random"),
      el("label", {}, "corruption to remove", corruption)), drop),
    el("div", { class: "card" }, el("div", { class: "row" },
      el("figure", {}, imgs.input, el("figcaption", {}, "input")), el("figure", {}, imgs.recon, caption.recon),
      el("figure", {}, imgs.noisy, caption.noisy), el("figure", {}, imgs.denoised, caption.denoised),
      el("figure", {}, imgs.heatmap, caption.heatmap)),
      el("div", { class: "row" }, el("div", {}, el("h2", {}, "Where its code falls (μ and its σ ellipse)"), panel.canvas),
        el("div", {}, el("h2", {}, "Anomaly score among the test images'"), hist))));
  // interpolation
  const other = el("input", { type: "number", min: 0, max: data.test_images - 1, value: Math.min(1, data.test_images - 1), style: "width:90px" });
  const frameImg = el("img", { class: "pix decoded", id: "interp" }), step = el("input", { type: "range", min: 0, max: 10, value: 0, disabled: true });
  let frames = [];
  step.oninput = () => { frameImg.src = frames[step.value]; };
  const interp = window.vaekit.interpolate = async () => guarded(async () => { frames = (await api(`/api/runs/${id}/interpolate`, { a: source, b: { test: Number(other.value) }, steps: 11 })).frames; step.disabled = false; step.value = 0; frameImg.src = frames[0]; });
  // samples
  const grid = el("img", { class: "pix", id: "samples", style: "width:360px" });
  const priorName = detail.model.prior || "normal";
  const priorLabel = priorName === "codebook" && !Object.keys(detail.prior_fit || {}).length ? "uniform codebook (fit its PixelCNN: vaekit train-prior)"
    : ({ normal: "prior N(0, I)", vamp: "VampPrior", "two-layer": "two-layer prior", codebook: "PixelCNN prior" }[priorName] || `prior (${priorName})`);
  const sampler = el("select", {}, el("option", { value: "prior" }, priorLabel), el("option", { value: "gmm" }, "mixture of the training codes"),
    el("option", { value: "two-stage" }, "two-stage VAE on the training codes"));
  sampler.value = detail.default_sampler || "prior";  // the objective's own: a mixture for rae and sharp
  const cls = detail.model.model === "cvae" || detail.model.num_classes ? el("select", {}, (detail.class_names.length ? detail.class_names : [...Array(detail.model.num_classes).keys()].map(String)).map((n, k) => el("option", { value: k }, n))) : null;
  let seed = 0;
  const roll = async () => guarded(async () => { grid.src = await api(`/api/runs/${id}/samples`, { n: 32, seed, sampler: cls ? "prior" : sampler.value, label: cls ? Number(cls.value) : null }); });
  view.append(el("div", { class: "row" },
    el("div", { class: "card" }, el("h2", {}, "Interpolate to another test image"), el("div", { class: "row" }, el("label", {}, "to test image", other), el("button", { onclick: interp }, "interpolate")), step, el("div", {}, frameImg)),
    el("div", { class: "card" }, el("h2", {}, cls ? "Conditional samples" : "Samples"), el("div", { class: "row" }, cls ? el("label", {}, "class", cls) : el("label", {}, "sampler", sampler),
      el("button", { id: "reroll", onclick: () => { seed += 1; roll(); } }, "re-roll")), grid)));
  await refresh(); await roll(); await interp();
}

function drawHistogram(canvas, h, score, percentile) {
  const ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height - 18, n = h.counts.length, top = Math.max(...h.counts, 1);
  const lo = h.edges[0], hi = Math.max(h.edges[n], score), X = (v) => (v - lo) / (hi - lo || 1) * (W - 8) + 4;
  ctx.clearRect(0, 0, W, canvas.height); ctx.fillStyle = "#98a2b3";
  h.counts.forEach((c, k) => { const a = X(h.edges[k]), b = X(h.edges[k + 1]); ctx.fillRect(a, H - c / top * (H - 6), Math.max(b - a - 1, 1), c / top * (H - 6)); });
  ctx.strokeStyle = "#d62728"; ctx.lineWidth = 2; ctx.beginPath(); ctx.moveTo(X(score), 0); ctx.lineTo(X(score), H); ctx.stroke();
  ctx.fillStyle = "#1d2330"; ctx.font = "11px system-ui"; ctx.fillText(`higher than ${percentile.toFixed(0)}% of test images`, 4, canvas.height - 4);
}

// ---------------------------------------------------------------- training from the page
// The form is built from /api/settings, the settings schema: every setting of `vaekit train`
// (a new registry entry's included), each entry's own settings beside its select and shown only
// while that entry is the one chosen.
function settingInput(s) {
  const name = s.name, def = s.default;
  if (s.choices) {
    const options = s.choices.map((c) => el("option", { value: c.name, title: c.about, selected: c.name === def }, c.name));
    if (def === null) options.unshift(el("option", { value: "", selected: true }, "model's own"));
    return el("select", { name }, options);
  }
  if (s.type === "bool") return el("input", { name, type: "checkbox", checked: !!def });
  const text = Array.isArray(def) ? def.join(",") : def === null ? "" : String(def);
  return el("input", { name, type: "text", value: text, placeholder: def === null ? "default" : "", style: "width:110px" });
}
function settingValue(s, input) {
  if (s.type === "bool") return input.checked;
  const v = input.value.trim();
  if (v === "") return null;
  return s.type === "int" || s.type === "float" ? Number(v) : v;
}
async function trainView() {
  const schema = (await api("/api/settings")).settings;
  const byName = Object.fromEntries(schema.map((s) => [s.name, s]));
  const inputs = {}, labels = {};
  for (const s of schema) {
    inputs[s.name] = settingInput(s);
    labels[s.name] = el("label", { title: s.help, "data-setting": s.name, "data-owner": s.owner ? `${s.owner.setting}:${s.owner.entry}` : null },
      s.name.replaceAll("_", " "), inputs[s.name]);
  }
  // the entry a chooser stands at: its own value, else the model kind's own, else the fallback
  const chosen = (setting) => {
    const value = inputs[setting].value;
    if (value) return value;
    const kind = (byName.model.choices || []).find((c) => c.name === inputs.model.value) || {};
    return kind[setting] || byName[setting].fallback || "";
  };
  const shown = (s) => !s.owner || chosen(s.owner.setting) === s.owner.entry;
  const refresh = () => { for (const s of schema) labels[s.name].style.display = shown(s) ? "" : "none"; };
  for (const s of schema) if (s.choices) inputs[s.name].addEventListener("change", refresh);
  // each entry's settings right after the select that chooses it; the rest by section
  const sections = {};
  for (const s of schema.filter((s) => !s.owner)) {
    (sections[s.section] = sections[s.section] || []).push(labels[s.name]);
    for (const o of schema.filter((o) => o.owner && o.owner.setting === s.name)) sections[s.section].push(labels[o.name]);
  }
  const form = el("form", { id: "train-form", onsubmit: async (e) => {
    e.preventDefault();
    const body = {};
    for (const s of schema) { const v = settingValue(s, inputs[s.name]); if (v !== null && shown(s)) body[s.name] = v; }
    await guarded(async () => { const job = await api("/api/jobs", body); follow(job); });
  } }, Object.entries(sections).map(([name, nodes]) => el("fieldset", { "data-section": name }, el("legend", {}, name), nodes)),
  el("div", {}, el("button", { type: "submit", id: "start" }, "Start training")));
  refresh();
  const list = el("div", { id: "jobs" });
  view.append(el("h1", {}, "Train"), el("div", { class: "card" }, el("p", { class: "muted" }, "Starts `vaekit train` with these settings in its own process; the run appears under Runs. Stop keeps its checkpoint; resume continues it."), form), el("div", { class: "card" }, el("h2", {}, "Trainings"), list));
  const seen = {};
  function follow(job) {
    let box = seen[job.id];
    if (!box) {
      const chart = el("canvas", { width: 560, height: 220, class: "curve" }), img = el("img", { class: "pix", style: "width:220px" });
      const badge = el("span", { class: "badge" }), msg = el("span", { class: "muted" });
      const stop = el("button", { class: "plain", onclick: () => guarded(async () => follow(await api(`/api/jobs/${job.id}/stop`, {}))) }, "stop");
      const resume = el("button", { class: "plain", onclick: () => guarded(async () => follow(await api(`/api/jobs/${job.id}/resume`, {}))) }, "resume");
      const link = el("a", {}, job.run);
      box = seen[job.id] = { chart, img, badge, msg, stop, resume, link, node: el("div", { class: "job", "data-job": job.id }, el("div", { class: "row" }, link, badge, stop, resume, msg), el("div", { class: "row" }, chart, img)) };
      list.prepend(box.node);
    }
    if (box.source) box.source.close();
    const source = box.source = new EventSource(`/api/jobs/${job.id}/events?token=${encodeURIComponent(TOKEN)}`);
    cleanup.push(() => source.close());
    source.onmessage = (e) => {
      const info = JSON.parse(e.data);
      box.badge.textContent = info.status; box.badge.className = `badge ${info.status}`; box.node.dataset.status = info.status;
      box.msg.textContent = info.message || ""; box.stop.disabled = info.status !== "running"; box.resume.disabled = !["stopped", "failed"].includes(info.status);
      box.link.href = `#/run/${info.run_id}`;
      const cols = info.metrics.columns.filter((c) => c === "train_loss" || c === "val_loss");
      if (info.metrics.rows.length) { lineChart(box.chart, info.metrics, cols); box.chart.dataset.points = info.metrics.rows.length; }
      if (info.grid_epoch) box.img.src = `/api/runs/${info.run_id}/grids/samples/${info.grid_epoch}.png`;
      if (["finished", "stopped", "failed"].includes(info.status)) { source.close(); RUNS = null; }
    };
  }
  (await api("/api/jobs")).jobs.forEach(follow);
}

route();
