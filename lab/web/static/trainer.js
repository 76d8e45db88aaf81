// uclab trainer page: every seat's state, refreshed every two seconds.
"use strict";
const TOKEN = new URLSearchParams(location.search).get("token") || "";
function cell(text, cls) { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; return td; }
async function refresh() {
  const r = await fetch("/api/trainer/state", {headers: {"X-Uclab-Token": TOKEN}});
  if (!r.ok) return;
  const data = await r.json();
  const body = document.querySelector("#seats tbody");
  body.replaceChildren();
  for (const s of data.seats) {
    const tr = document.createElement("tr");
    tr.dataset.seat = s.seat;
    const v = s.verdict;
    tr.append(cell(String(s.seat)), cell(s.lab), cell(s.up ? "up" : "down", s.up ? "ok" : ""), cell(s.job || "idle"),
      cell(v ? v.summary : "-", v ? (v.passed ? "ok" : "bad") : ""),
      cell(s.halt ? `stop ${s.halt.index + 1}/${s.halt.stops}: ${s.halt.node} at ${s.halt.event}` : "-"),
      cell(String(s.listeners)), cell(s.error || ""));
    body.append(tr);
  }
}
refresh();
setInterval(refresh, 2000);
