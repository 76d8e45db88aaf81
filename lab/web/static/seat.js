// uclab seat page: the lab, the call (live ladder, steps, tour, report), the firewall check.
// Every value from the server is put in the page with textContent: nothing is parsed as HTML.
"use strict";

const params = new URLSearchParams(location.search);
const TOKEN = params.get("token") || "";
const SEAT = location.pathname.split("/").filter(Boolean)[1];
const API = `/api/seat/${SEAT}`;
const COLS = 4, WIDTH = 760, ROW = 26, TOP = 24;
const X = (i) => WIDTH / COLS * (i + 0.5);
const COLORS = {SIP: "#1f5fa8", TURN: "#7a3fa0", ICE: "#c46a00", TCP: "#777", Media: "#16702a"};
const state = {arrows: new Map(), steps: [], columns: [], report: null, tourActive: false};
window.uclabDelays = [];   // wire-to-arrow delays (s): capture time to drawn, per new arrow
window.uclabEvents = [];   // the event names received, in order (tests, benchmark)

function el(tag, attrs = {}, ...children) {
  const e = tag.startsWith("svg:") ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
                                   : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.setAttribute("class", v);
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}
const $ = (id) => document.getElementById(id);

async function api(path, body) {
  const opts = {headers: {"X-Uclab-Token": TOKEN}};
  if (body !== undefined) {
    opts.method = "POST";
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(API + path, opts);
  const text = await r.text();
  let data = null;
  try { data = JSON.parse(text); } catch (e) { data = {error: text}; }
  if (!r.ok) throw new Error((data && (data.error || data.message)) || text || r.status);
  return data;
}

// --- tabs ---------------------------------------------------------------------------------
for (const b of document.querySelectorAll("nav button.tab")) {
  b.addEventListener("click", () => {
    for (const o of document.querySelectorAll("nav button.tab")) o.classList.toggle("active", o === b);
    for (const p of document.querySelectorAll("section.panel")) p.classList.toggle("hidden", p.id !== b.dataset.tab);
  });
}

// --- the lab page -------------------------------------------------------------------------
async function refreshLab() {
  let s;
  try { s = await api("/state"); } catch (e) { $("lab-phase").textContent = String(e.message); return; }
  $("seat-name").textContent = `seat ${s.seat.seat} (lab ${s.seat.lab})`;
  $("lab-phase").textContent = s.up ? "the lab is up" : (s.status ? `lab ${s.status.phase}` : "the lab is down");
  $("lab-phase").className = "phase " + (s.up ? "ok" : "");
  showJob(s.seat.job);
  const body = $("nodes").tBodies[0];
  body.replaceChildren();
  const counters = $("counters");
  counters.replaceChildren();
  for (const n of (s.status ? s.status.nodes : [])) {
    const d = n.daemon;
    body.append(el("tr", {"data-node": n.name},
      el("td", {text: n.name}), el("td", {text: n.role}),
      el("td", {class: n.present ? "ok" : "bad", text: n.present ? "present" : "missing"}),
      el("td", {class: d ? (d.alive ? "ok" : "bad") : "", text: d ? (d.alive ? `running (pid ${d.pid})` : "dead") : "-"}),
      el("td", {text: n.interfaces.join(", ")})));
    if (n.rules.length) {
      const t = el("table", {"data-firewall": n.name}, el("caption", {text: n.name}));
      for (const r of n.rules) t.append(el("tr", {}, el("td", {text: r.chain}), el("td", {text: r.comment || r.rule}), el("td", {text: `${r.packets} pkts`})));
      counters.append(t);
    }
  }
  if (!s.status) body.append(el("tr", {}, el("td", {colspan: 5, class: "muted", text: "no namespaces: bring the lab up, or run a call (it builds a lab of its own for the call)"})));
}
$("topology").src = `${API}/topology.svg?token=${encodeURIComponent(TOKEN)}`;
$("btn-up").addEventListener("click", () => api("/up", {}).catch(showRunError));
$("btn-down").addEventListener("click", () => api("/down", {}).catch(showRunError));

function showJob(job) {
  $("job").textContent = job ? `working: ${job}` : "";
  for (const id of ["btn-up", "btn-down", "btn-run", "btn-tour", "btn-check"]) $(id).disabled = !!job;
}

// --- the call -----------------------------------------------------------------------------
async function loadScenarios() {
  const data = await api("/scenarios");
  const sel = $("scenario");
  for (const s of data.scenarios) sel.append(el("option", {value: s.name, text: s.name, "data-description": s.description}));
  sel.value = "screen-share";
  const describe = () => { $("scenario-text").textContent = sel.selectedOptions[0] ? sel.selectedOptions[0].dataset.description : ""; };
  sel.addEventListener("change", describe);
  describe();
}
$("fault-preset").addEventListener("change", (e) => { $("fault").value = e.target.value; });
$("tour-preset").addEventListener("change", (e) => { $("tour-fault").value = e.target.value; });

function startRun(tour) {
  $("run-error").classList.add("hidden");
  const faults = $("fault").value.trim() ? [$("fault").value.trim()] : [];
  api("/run", {scenario: $("scenario").value, faults, tour}).catch(showRunError);
}
$("run-form").addEventListener("submit", (e) => { e.preventDefault(); startRun(false); });
$("btn-tour").addEventListener("click", () => startRun(true));
$("btn-next").addEventListener("click", () => api("/next", {fault: null}).catch(showRunError));
$("btn-break").addEventListener("click", () => api("/next", {fault: $("tour-fault").value.trim() || null}).catch(showRunError));

function showRunError(e) {
  $("run-error").textContent = String(e.message || e);
  $("run-error").classList.remove("hidden");
}

function reset() {
  state.arrows.clear(); state.steps = []; state.report = null;
  $("verdict").classList.add("hidden");
  $("after").classList.add("hidden");
  $("tour").classList.add("hidden");
  $("detail").replaceChildren(el("p", {class: "muted", text: "Click an arrow or a step to read it."}));
  drawLadder(); drawSteps();
}

function drawHead() {
  const head = $("ladder-head");
  head.replaceChildren(...state.columns.map((c) => el("div", {text: c})));
}

function drawLadder() {
  const svg = $("ladder");
  const arrows = [...state.arrows.values()].sort((a, b) => a.epoch - b.epoch);
  svg.replaceChildren();
  const height = TOP + ROW * (arrows.length + 1);
  svg.setAttribute("height", height);
  const defs = el("svg:defs");
  for (const [g, c] of Object.entries({...COLORS, bad: "#c22"})) {
    defs.append(el("svg:marker", {id: `head-${g}`, viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse"},
      el("svg:path", {d: "M 0 0 L 10 5 L 0 10 z", fill: c})));
  }
  svg.append(defs);
  for (let i = 0; i < COLS; i++) svg.append(el("svg:line", {x1: X(i), y1: 0, x2: X(i), y2: height, stroke: "#bbb", "stroke-dasharray": "4 3"}));
  arrows.forEach((a, k) => {
    const y = TOP + ROW * k + 12;
    const color = a.ok ? (COLORS[a.group] || "#444") : "#c22";
    const g = el("svg:g", {class: "arrow", "data-id": a.id, "data-step": a.step == null ? "" : String(a.step), "data-label": a.label});
    g.append(el("svg:rect", {x: 0, y: y - 14, width: WIDTH, height: ROW - 2, fill: "#fff", "fill-opacity": 0}));
    g.append(el("svg:line", {x1: X(a.from), y1: y, x2: X(a.to), y2: y, stroke: color, "stroke-width": 1.6,
      "stroke-dasharray": a.ok ? "" : "5 3", "marker-end": `url(#head-${a.ok ? a.group : "bad"})`}));
    const mid = (X(a.from) + X(a.to)) / 2;
    g.append(el("svg:text", {x: mid, y: y - 3, "text-anchor": "middle", fill: color, text: (a.step ? `${a.step}. ` : "") + a.label}));
    g.append(el("svg:text", {x: 2, y: y + 4, fill: "#999", text: a.t.toFixed(3)}));
    g.append(el("svg:title", {text: `${a.src} -> ${a.dst} (${a.transport})`}));
    g.addEventListener("click", () => showArrow(a));
    svg.append(g);
  });
}

function kv(table, k, v) { table.append(el("tr", {}, el("th", {text: k}), el("td", {text: v}))); }

function stepText(n) {
  const s = state.steps.find((x) => x.number === n);
  if (!s) return null;
  return el("div", {class: "explain"},
    el("h3", {text: `Step ${s.number}: ${s.name}`}),
    el("p", {text: s.what}), el("p", {class: "muted", text: `Why: ${s.why}`}),
    el("p", {}, el("a", {href: s.rfc_url, target: "_blank", rel: "noreferrer", text: s.rfc})),
    el("p", {text: `Status: ${s.status}` + (s.time != null ? ` at ${s.time.toFixed(3)} s` : "")}),
    ...Object.entries(s.values || {}).map(([k, v]) => el("div", {class: "value", text: `${k}: ${v}`})),
    ...(s.notes || []).map((t) => el("div", {class: "note", text: t})));
}

function showArrow(a) {
  const d = a.detail || {};
  const box = $("detail");
  const t = el("table");
  kv(t, "5-tuple", d.five_tuple || `${a.transport} ${a.src} -> ${a.dst}`);
  kv(t, "interface", d.iface || "-");
  kv(t, "time", `${a.t.toFixed(6)} s (frame ${d.frame ?? "-"})`);
  if (d.framing) kv(t, "framing", d.framing);
  if (d.head) kv(t, "first bytes", d.head);
  if (d.tcp) kv(t, "TCP", `${d.tcp.outcome}, ${d.tcp.syns} SYN(s), seen on ${d.tcp.seen_on.join(", ")}`);
  const parts = [el("h3", {text: a.label}), t];
  if (d.stun) {
    const st = el("table", {class: "stun"});
    kv(st, "message", `${d.stun.method} ${d.stun.class} (transaction ${d.stun.transaction_id})`);
    for (const [k, v] of d.stun.attributes) kv(st, k, v);
    parts.push(el("h4", {text: "STUN/TURN attributes"}), st);
  }
  if (d.sip) parts.push(el("h4", {text: "SIP message (decrypted)"}), el("pre", {class: "sip", text: d.sip}));
  for (const n of a.notes || []) parts.push(el("div", {class: "note", text: n}));
  if (a.step) { const s = stepText(a.step); if (s) parts.push(s); }
  box.replaceChildren(...parts);
}

function drawSteps() {
  const body = $("steps").tBodies[0];
  body.replaceChildren();
  for (const s of state.steps) {
    const ok = s.status === "seen";
    const row = el("tr", {class: "step", id: `step-${s.number}`, "data-status": s.status},
      el("td", {text: String(s.number)}), el("td", {text: s.name}),
      el("td", {class: ok ? "ok" : (s.status === "missing" ? "" : "bad"), text: s.status}),
      el("td", {text: s.time == null ? "" : s.time.toFixed(3)}),
      el("td", {}, el("div", {text: s.what}), el("div", {class: "muted", text: s.why})),
      el("td", {}, el("a", {href: s.rfc_url, target: "_blank", rel: "noreferrer", text: s.rfc})));
    row.addEventListener("click", (e) => {
      if (e.target.tagName === "A") return;
      const a = [...state.arrows.values()].find((x) => x.step === s.number);
      if (a) showArrow(a); else $("detail").replaceChildren(stepText(s.number));
    });
    body.append(row);
  }
}

function onLadder(m) {
  const now = Date.now() / 1000;
  for (const id of m.removed || []) state.arrows.delete(id);
  const fresh = [];
  for (const a of m.arrows || []) {
    if (!state.arrows.has(a.id)) fresh.push(a);
    state.arrows.set(a.id, a);
  }
  if (m.columns && m.columns.length) { state.columns = m.columns; drawHead(); }
  if (m.steps) { state.steps = m.steps; drawSteps(); }
  drawLadder();
  const drawn = Date.now() / 1000;
  if (m.sent_at) for (const a of fresh) window.uclabDelays.push({id: a.id, label: a.label, wire: a.epoch, sent: m.sent_at, got: now, drawn});
}

function onReport(r) {
  state.report = r;
  state.arrows.clear();
  for (const a of r.arrows || []) state.arrows.set(a.id, a);
  if (r.columns) { state.columns = r.columns; drawHead(); }
  if (r.steps) { state.steps = r.steps; drawSteps(); }
  drawLadder();
  $("tour").classList.add("hidden");
  const v = $("verdict");
  const passed = r.verdict ? r.verdict.passed : false;
  v.className = "verdict " + (passed ? "pass" : "fail");
  v.replaceChildren(el("div", {id: "verdict-summary", text: r.verdict ? r.verdict.summary : `no ladder: ${r.reached}`}),
    el("div", {class: "muted", text: `scenario ${r.scenario}: ` + (r.passed ? "expectations hold" : `expectations not met: ${r.unmet.join("; ")}`)}),
    ...r.faults.map((f) => el("div", {class: "muted", text: `fault: ${f}`})),
    ...r.problems.map((f) => el("div", {class: "muted", text: `problem: ${f}`})));
  const diag = $("diagnosis");
  diag.replaceChildren(...(r.diagnosis.length ? r.diagnosis : ["nothing went wrong"]).map((t) => el("li", {text: t})));
  drawMedia(r.media || []);
  drawCounters(r.daemon_media || []);
  const ice = $("ice");
  ice.replaceChildren();
  for (const x of r.ice) {
    ice.append(el("h4", {text: `${x.node}: ` + (x.pair ? `selected ${x.pair}` : "no pair selected")}));
    if (x.checks.length) ice.append(el("ol", {}, ...x.checks.map((c) => el("li", {class: /succeeded/.test(c) ? "ok" : "", text: c}))));
  }
  const dl = $("downloads");
  dl.replaceChildren();
  const names = {pcapng: "capture (pcapng, TLS secrets inside)", html: "ladder (HTML)", json: "JSON", junit: "JUnit XML"};
  for (const k of r.downloads || []) {
    dl.append(el("a", {href: `${API}/download/${k}?token=${encodeURIComponent(TOKEN)}`, id: `dl-${k}`, text: names[k] || k}), " ");
  }
  $("after").classList.remove("hidden");
}

function chart(title, series, key, unit) {
  const W = 320, H = 110, P = 28;
  const max = Math.max(1e-9, ...series.map((p) => p[key]));
  const tmax = Math.max(1e-9, ...series.map((p) => p.t));
  const pts = series.map((p) => `${P + (W - P - 6) * p.t / tmax},${H - 16 - (H - 30) * p[key] / max}`).join(" ");
  return el("svg:svg", {class: "chart", width: W, height: H, "data-chart": key},
    el("svg:text", {x: 4, y: 12, text: `${title} (max ${max.toFixed(1)} ${unit})`}),
    el("svg:line", {x1: P, y1: H - 16, x2: W - 6, y2: H - 16, stroke: "#999"}),
    el("svg:text", {x: W - 40, y: H - 3, text: `${tmax.toFixed(2)} s`}),
    el("svg:polyline", {points: pts, fill: "none", stroke: "#1f5fa8", "stroke-width": 1.5}));
}

function drawMedia(legs) {
  const box = $("media");
  box.replaceChildren();
  for (const m of legs) {
    box.append(el("h4", {text: `${m.from} -> ${m.to} (${m.source} -> ${m.destination}): ${m.packets} packets, ${m.bytes} bytes, lost ${m.lost}, jitter ${m.jitter_ms} ms`}),
      el("div", {class: "cols"}, chart("bitrate", m.series, "kbps", "kbit/s"), chart("packets", m.series, "pps", "/s"), chart("jitter", m.series, "jitter_ms", "ms")));
  }
  if (!legs.length) box.append(el("p", {class: "muted", text: "no media in the capture"}));
}

function drawCounters(rows) {
  const t = el("table", {id: "daemon-media"}, el("caption", {text: "Media as the daemons counted it (RTP packets / bytes; RTT from RTCP)"}),
    el("tr", {}, ...["daemon", "sent", "received", "lost", "jitter ms", "RTT ms"].map((h) => el("th", {text: h}))));
  for (const x of rows) {
    const m = x.media;
    t.append(el("tr", {}, el("td", {text: x.node}),
      el("td", {text: m ? `${m.sent_packets} / ${m.sent_bytes}` : "-"}),
      el("td", {text: m ? `${m.received_packets} / ${m.received_bytes}` : "-"}),
      el("td", {text: m ? String(m.lost) : "-"}),
      el("td", {text: m ? Number(m.jitter_ms).toFixed(2) : "-"}),
      el("td", {text: m && m.rtt_mean_ms != null ? Number(m.rtt_mean_ms).toFixed(2) : "-"})));
  }
  $("media").prepend(t);
}

function onHalt(h) {
  $("tour").classList.remove("hidden");
  $("tour-title").textContent = `Stop ${h.index + 1} of ${h.stops}: ${h.node} is held at '${h.event}'` + (h.held ? "" : " (came too early: not held)");
  $("tour-says").textContent = `Next: ${h.says}.`;
  $("tour-next").replaceChildren(...h.next.map((s) => el("li", {value: s.step, "data-step": s.step},
    el("b", {text: `Step ${s.step}: `}), s.what, el("div", {class: "muted", text: `Why: ${s.why} (${s.rfc})`}))));
  $("btn-next").disabled = false; $("btn-break").disabled = false;
}

// --- the firewall page --------------------------------------------------------------------
const FIREWALLS = ["fw-outside", "fw-inside"];
function gutter(name, bad) {
  const n = $(name).value.split("\n").length;
  const g = $(`gutter-${name}`);
  g.replaceChildren(...Array.from({length: n}, (_, i) => el("div", {class: i + 1 === bad ? "badline" : "", text: String(i + 1)})));
}
for (const name of FIREWALLS) {
  $(name).addEventListener("input", () => gutter(name));
  $(name).addEventListener("scroll", () => { $(`gutter-${name}`).scrollTop = $(name).scrollTop; });
  $(`file-${name}`).addEventListener("change", (e) => {
    const f = e.target.files[0];
    if (!f) return;
    if (f.size > 65536) { showFwError(name, {text: `${f.name}: ${f.size} bytes; a policy is at most 64 KiB`}); return; }
    f.text().then((t) => { $(name).value = t; gutter(name); });
  });
  gutter(name);
}
$("fw-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const policies = {};
  for (const name of FIREWALLS) { $(`err-${name}`).classList.add("hidden"); gutter(name); if ($(name).value.trim()) policies[name] = $(name).value; }
  $("fw-report").replaceChildren(el("p", {class: "muted", text: "checking: a lab of its own, the real share, the probes..."}));
  api("/firewall", {policies}).catch((err) => $("fw-report").replaceChildren(el("div", {class: "error", text: String(err.message)})));
});
function showFwError(name, err) {
  const box = $(`err-${name}`);
  box.textContent = err.text;
  box.classList.remove("hidden");
  if (err.line) {
    gutter(name, err.line);
    const area = $(name);
    area.scrollTop = Math.max(0, (err.line - 3) * 15);
    $(`gutter-${name}`).scrollTop = area.scrollTop;
  }
}
function onFirewall(f) {
  const out = $("fw-report");
  out.replaceChildren();
  if (!f) return;
  if (f.error) {
    const name = f.error.node || FIREWALLS[0];
    showFwError(name, f.error);
    out.append(el("div", {class: "error", id: "fw-error", text: f.error.text}));
    return;
  }
  const r = f.report;
  out.append(el("div", {class: "verdict " + (r.verdict === "pass" ? "pass" : "fail"), id: "fw-verdict", text: `verdict: ${r.verdict}` + (r.first_broken_step ? `; the call broke at ${r.first_broken_step}` : "")}));
  const t = el("table", {id: "fw-flows"}, el("tr", {}, ...["flow", "status", "firewall", "deciding rule", "line", "step", "why"].map((h) => el("th", {text: h}))));
  for (const x of r.flows) {
    t.append(el("tr", {"data-flow": x.id}, el("td", {text: x.id}), el("td", {class: x.status === "passed" ? "ok" : "bad", text: x.status}),
      el("td", {text: x.firewall || ""}), el("td", {text: x.rule || "(policy)"}), el("td", {text: x.source_line == null ? "" : String(x.source_line)}),
      el("td", {text: x.step || ""}), el("td", {text: x.why || ""})));
  }
  out.append(el("h3", {text: "Required flows (ports.md)"}), t);
  out.append(el("h3", {text: "Over-permissive probes"}));
  if (!r.over_permissive.length) out.append(el("p", {class: "muted", text: "none: nothing unneeded got through"}));
  for (const p of r.over_permissive) out.append(el("div", {text: `${p.id} ${p.flow}: ${p.status}` + (p.rule ? ` by ${p.rule}` : "")}));
  for (const n of r.notes || []) out.append(el("div", {class: "muted", text: n}));
}

// --- the event stream ---------------------------------------------------------------------
function connect() {
  const es = new EventSource(`${API}/events?token=${encodeURIComponent(TOKEN)}`);
  const on = (name, fn) => es.addEventListener(name, (e) => { window.uclabEvents.push(name); fn(JSON.parse(e.data)); });
  on("state", (s) => {
    showJob(s.job);
    if (s.live && s.live.arrows) { reset(); onLadder({arrows: s.live.arrows, steps: s.live.steps, columns: s.live.columns}); }
    if (s.report) onReport(s.report);
    if (s.halt) onHalt(s.halt);
    if (s.firewall) onFirewall(s.firewall);
  });
  on("job", (j) => { showJob(j.job); if (j.error) showRunError({message: j.error}); refreshLab(); });
  on("reset", () => reset());
  on("queued", (q) => { $("job").textContent = q.message; });
  on("ladder", onLadder);
  on("halt", onHalt);
  on("go", () => { $("tour").classList.add("hidden"); });
  on("report", onReport);
  on("firewall", onFirewall);
}

refreshLab();
setInterval(refreshLab, 2000);
loadScenarios().catch(showRunError);
connect();
