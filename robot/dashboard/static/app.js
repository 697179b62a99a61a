// gardenbot dashboard: a little JavaScript, no build step. Every page polls /api/state once a
// second; buttons POST JSON with the CSRF header the server put in <meta name="csrf">.
"use strict";

const CSRF = document.querySelector('meta[name="csrf"]')?.content || "";
const $ = (id) => document.getElementById(id);
const PAGE = document.body.dataset.page;

function say(text, error = false) {
  const m = $("message");
  if (!m) return;
  m.textContent = text;
  m.classList.toggle("error", error);
}

async function getJSON(path) {
  const r = await fetch(path, { cache: "no-store", credentials: "same-origin" });
  if (r.status === 401) { location.reload(); throw new Error("signed out"); }
  if (!r.ok) throw new Error((await r.json().catch(() => ({}))).error || r.statusText);
  return r.json();
}

async function post(path, body) {
  const r = await fetch(path, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-Gardenbot-CSRF": CSRF },
    body: JSON.stringify(body || {}),
  });
  const data = await r.json().catch(() => ({ error: r.statusText }));
  if (!r.ok) { say(data.error || r.statusText, true); throw new Error(data.error); }
  say(data.result || "done");
  return data;
}

function command(kind, extra) { return post("/api/command", { kind, ...(extra || {}) }); }

function text(id, value) { const e = $(id); if (e) e.textContent = value; }
const pct = (x) => (x === null || x === undefined) ? "–" : `${Math.round(100 * x)} %`;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "onclick") e.addEventListener("click", v); else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

// --- state, every page -----------------------------------------------------------------------

let last = null;
async function refresh() {
  try { last = await getJSON("/api/state"); } catch (e) { return; }
  const s = last;
  text("nav-questions", s.questions_open ? String(s.questions_open) : "");
  $("stopped-note")?.classList.toggle("hidden", !s.owner_stopped);
  if ($("stop")) $("stop").disabled = !!s.owner_stopped;
  if ($("resume")) $("resume").disabled = !s.owner_stopped;
  if (s.tick === null) return;
  if (PAGE === "live") showLive(s);
  if (PAGE === "learning") showLearner(s);
  if (PAGE === "learning") showBuffer(s.buffer);
  if (PAGE === "garden") showGarden(s);
}

function learnerText(l) {
  if (!l || !l.state) return "–";
  let t = l.state;
  if (l.stage && l.state === "running") t += ` (${l.stage} ${Math.round(100 * (l.progress || 0))} %)`;
  if (l.version && l.state === "published") t += `: v${l.version}`;
  if (l.message && l.state !== "running") t += ` — ${l.message}`;
  return t;
}

function showLive(s) {
  text("doing", s.policy.doing);
  text("season", s.season || "unknown");
  text("adapter", s.adapter_version);
  text("fps", `${s.fps} frames/s`);
  const l = s.link;
  text("link", `${l.connected ? "connected" : "down"} · ${l.drives_acked}/${l.drives_sent} commands acked`
    + (l.failures ? ` · ${l.failures} failures` : "") + (l.estop_latched ? " · e-stop latched" : ""));
  text("battery", s.battery_v === null ? "–" : `${s.battery_v.toFixed(2)} V`);
  text("accuracy", s.accuracy === null ? "no label map" : pct(s.accuracy));
  text("learner-short", learnerText(s.learner));
}

function showLearner(s) {
  text("learner", learnerText(s.learner));
  const p = $("progress");
  if (p) p.value = s.learner.state === "running" ? (s.learner.progress || 0) : 0;
  if ($("retrain")) $("retrain").disabled = !!s.learner.running;
}

function bars(id, counts, total) {
  const box = $(id);
  if (!box) return;
  box.replaceChildren();
  const max = Math.max(1, ...Object.values(counts || {}));
  for (const [name, n] of Object.entries(counts || {})) {
    const fill = el("div", { class: "fill" });
    fill.style.width = `${(100 * n) / max}%`;
    box.append(el("div", { class: "bar" }, el("span", {}, name), el("div", {}, fill),
      el("span", {}, String(n))));
  }
}

function showBuffer(b) {
  if (!b || b.cells === undefined) return;
  text("buffer-total", `${b.cells} cells of at most ${b.max_cells}; ${b.new_cells} not trained on yet`);
  bars("buffer-classes", b.classes);
  bars("buffer-seasons", b.seasons);
  bars("buffer-sources", b.accepted);
}

function showGarden(s) {
  text("local-time", s.watering.local_time);
  const body = $("zones")?.querySelector("tbody");
  const key = JSON.stringify(s.zones);
  if (body && body.dataset.key !== key) {  // rebuilt only when it changed: buttons stay put
    body.dataset.key = key;
    body.replaceChildren();
    if (!s.zones.length) body.append(el("tr", {}, el("td", { colspan: "4" }, "no watering zones configured")));
    for (const z of s.zones) {
      body.append(el("tr", {},
        el("td", {}, `zone ${z.id}`),
        el("td", {}, pct(z.moisture)),
        el("td", {}, z.last_watered ? z.last_watered.replace("T", " ") : "never"),
        el("td", {}, el("button", { "data-zone": String(z.id), onclick: () => command("water", { zone: z.id }) }, "Water now"))));
    }
  }
  const f = $("watering");
  if (f && !f.dataset.filled) {
    f.interval_h.value = s.watering.interval_h;
    f.quiet_hours.value = s.watering.quiet_hours;
    f.duration_ms.value = s.watering.duration_ms;
    f.dataset.filled = "1";
  }
}

// --- learning page ---------------------------------------------------------------------------

async function loadVersions() {
  const data = await getJSON("/api/adapters");
  const body = $("versions").querySelector("tbody");
  body.replaceChildren();
  const fmt = (m) => Object.entries(m || {}).map(([k, v]) => `${k} ${pct(v)}`).join(", ");
  for (const v of data.versions.slice().reverse()) {
    const current = v.version === data.current;
    const action = current ? el("strong", {}, "current")
      : el("button", { class: "secondary", "data-rollback": String(v.version),
          onclick: async () => { await command("rollback", { version: v.version }); loadVersions(); } },
        "Roll back to this");
    body.append(el("tr", { class: current ? "current" : "", "data-version": String(v.version) },
      el("td", {}, `v${v.version}`),
      el("td", { class: "small" }, (v.created || "").replace("T", " ").slice(0, 16)),
      el("td", {}, v.reason || ""),
      el("td", {}, v.score === null || v.score === undefined ? "–" : pct(v.score)),
      el("td", { class: "small" }, fmt(v.per_season)),
      el("td", { class: "small" }, fmt(v.per_class)),
      el("td", {}, v.error ? el("span", { class: "small" }, v.error) : action)));
  }
}

function plot(id, points) {
  const svg = $(id);
  if (!svg) return;
  svg.replaceChildren();
  const ns = "http://www.w3.org/2000/svg";
  const ok = points.filter((p) => p.y !== null && p.y !== undefined);
  const label = document.createElementNS(ns, "text");
  label.setAttribute("x", "4"); label.setAttribute("y", "10");
  label.textContent = ok.length ? `now ${pct(ok[ok.length - 1].y)}` : "no data yet";
  svg.append(label);
  if (ok.length < 1) return;
  const t0 = points[0].t, t1 = Math.max(points[points.length - 1].t, t0 + 1);
  const xy = ok.map((p) => `${(4 + (292 * (p.t - t0)) / (t1 - t0)).toFixed(1)},${(96 - 80 * p.y).toFixed(1)}`);
  if (xy.length === 1) xy.push(xy[0].replace(/^[^,]+/, "296"));
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", xy.join(" "));
  svg.append(line);
}

async function loadHistory() {
  const h = await getJSON("/api/history");
  for (const key of ["accuracy", "novelty", "stop_share", "false_stop_share"]) {
    plot(`plot-${key}`, h.bins.map((b) => ({ t: b.t, y: b[key] })));
  }
}

// --- questions page --------------------------------------------------------------------------

async function loadQuestions() {
  const data = await getJSON("/api/questions");
  text("questions-summary", `${data.questions.length} open · ${data.answered || 0} answered so far`);
  const box = $("questions");
  box.replaceChildren();
  for (const q of data.questions) {
    const buttons = data.classes.map((c) => el("button", { "data-answer": c, onclick: async () => {
      await post(`/api/questions/${q.id}/answer`, { class: c }); loadQuestions(); } }, c));
    box.append(el("div", { class: "question", "data-question": q.id },
      el("img", { src: `/api/questions/${q.id}.jpg`, alt: `question ${q.id}` }),
      el("p", { class: "small" }, `${q.why === "unsure" ? "unsure here" : q.why === "stopped" ? "stopped here" : "looks new"} · ${q.cells} cells · ${q.season || ""}`),
      el("div", { class: "answers" }, ...buttons)));
  }
}

// --- wiring ----------------------------------------------------------------------------------

for (const b of document.querySelectorAll("button[data-command]")) {
  b.addEventListener("click", () => command(b.dataset.command).then(refresh).catch(() => {}));
}
$("watering")?.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const f = ev.target;
  post("/api/watering", { interval_h: f.interval_h.value, quiet_hours: f.quiet_hours.value,
    duration_ms: f.duration_ms.value }).catch(() => {});
});

refresh();
setInterval(refresh, 1000);
if (PAGE === "learning") {
  loadVersions(); loadHistory();
  setInterval(loadHistory, 10000);
  let seen = null;
  setInterval(() => {  // a new version or a rollback: reload the table
    const key = last && `${last.adapter_version}|${last.learner.state}`;
    if (key !== seen) { seen = key; loadVersions(); }
  }, 1000);
}
if (PAGE === "questions") { loadQuestions(); setInterval(loadQuestions, 5000); }
