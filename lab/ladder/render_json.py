"""The ladder as JSON: capture, columns, steps (time, source, destination, message, status,
values, why), the arrows, media and the verdict. Times are seconds from the first arrow
(``time``) and Unix time (``epoch``)."""

from __future__ import annotations

import json
from pathlib import Path

from lab.ladder.compute import Ladder
from lab.ladder.events import MediaLeg
from lab.ladder.steps import StepResult

JsonObj = dict[str, object]


def _t(ladder: Ladder, ts_ns: int | None) -> float | None:
    if ts_ns is None:
        return None
    t0 = ladder.rows[0].ts_ns if ladder.rows else ladder.analysis.start_ns
    return round((ts_ns - t0) / 1e9, 6)


def _step(ladder: Ladder, step: StepResult) -> JsonObj:
    first = step.first
    ev = first.event if first is not None else None
    names = ladder.names
    return {
        "number": step.number, "name": step.spec.name, "status": str(step.status),
        "message": ev.label if ev is not None else step.spec.message,
        "from": names.column(step.spec.sender).label, "to": names.column(step.spec.receiver).label,
        "source": str(ev.src) if ev is not None else None,
        "destination": str(ev.dst) if ev is not None else None,
        "transport": ev.transport if ev is not None else None,
        "time": _t(ladder, step.ts_ns),
        "epoch": step.ts_ns / 1e9 if step.ts_ns is not None else None,
        "frame": first.frame if first is not None else None,
        "values": dict(step.values), "notes": list(step.notes),
        "parts": [{"label": p.label, "seen": p.ok, "required": p.required,
                   "time": _t(ladder, p.ts_ns), "frame": p.frame, "note": p.note}
                  for p in step.parts],
    }


def _media(ladder: Ladder, leg: MediaLeg) -> JsonObj:
    return {
        "from": ladder.names.name_of(leg.src.ip), "to": ladder.names.name_of(leg.dst.ip),
        "source": str(leg.src), "destination": str(leg.dst), "transport": leg.transport,
        "framing": leg.framing, "packets": leg.packets, "bytes": leg.octets,
        "payload_types": leg.payload_types, "ssrc": leg.ssrc, "lost": leg.lost,
        "gaps": leg.gaps, "jitter_ms": round(leg.jitter_ms, 3), "rtcp": leg.rtcp,
        "first": _t(ladder, leg.first_ns), "duration_s": round(leg.duration_s, 6),
    }


def ladder_json(ladder: Ladder) -> JsonObj:
    a, v = ladder.analysis, ladder.verdict
    return {
        "capture": {"path": a.path, "packets": a.packets, "interfaces": a.interfaces,
                    "start_epoch": a.start_ns / 1e9, "seconds": (a.end_ns - a.start_ns) / 1e9,
                    "tcp_connections": len(a.connections), "messages": len(a.events),
                    "tls_decrypted": a.tls_decrypted, "tls_not_decrypted": a.tls_opaque,
                    "warnings": a.warnings},
        "columns": [{"role": c.role, "label": c.label, "addresses": list(c.addresses)}
                    for c in ladder.names.columns],
        "names_source": ladder.names.source,
        "steps": [_step(ladder, s) for s in ladder.steps],
        "arrows": [{"time": _t(ladder, r.ts_ns), "frame": r.frame,
                    "from": ladder.names.columns[r.src_col].label,
                    "to": ladder.names.columns[r.dst_col].label, "source": r.src,
                    "destination": r.dst, "transport": r.transport, "message": r.label,
                    "group": r.group, "step": r.step, "ok": r.ok, "notes": list(r.notes)}
                   for r in ladder.rows],
        "media": [_media(ladder, m) for m in ladder.media],
        "verdict": {"verdict": "pass" if v.passed else "fail", "summary": v.summary,
                    "stopped_at": v.stopped_at, "node": v.node, "reasons": v.reasons,
                    "other": v.other, "missing": v.missing, "out_of_order": v.out_of_order,
                    "wrong": v.wrong},
        "elapsed_s": round(ladder.elapsed_s, 4),
    }


def write_json(ladder: Ladder, path: Path) -> None:
    path.write_text(json.dumps(ladder_json(ladder), indent=2) + "\n", encoding="utf-8")
