"""A ladder (and a run) as the JSON the pages draw: arrows with every message's decoded content,
steps with their explanation, media over time, ICE check lists, verdict and diagnosis.

Pure functions of :class:`lab.ladder.Ladder` / :class:`lab.run.RunResult`; the live view calls
:func:`arrows` and :func:`steps` on each snapshot of the growing capture, the result page
:func:`report` once the call is over.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lab.ladder.events import Event, MediaLeg
from lab.web.explain import explanations

if TYPE_CHECKING:
    from lab.ladder import Ladder
    from lab.run import RunResult

Json = dict[str, Any]
BINS = 60  # media over time: at most this many points per direction


def arrow_id(ts_ns: int, src: str, dst: str) -> str:
    """An arrow's identity across snapshots of a growing capture (whose frame numbers shift):
    its capture time, source and destination."""
    return f"{ts_ns}:{src}:{dst}"


def detail(ev: Event) -> Json:
    """Everything the page opens for one message: the 5-tuple and interface, the framing and
    first bytes, the SIP text (decrypted) or the STUN/TURN attributes, the TCP fate."""
    out: Json = {"iface": ev.iface, "five_tuple": f"{ev.transport} {ev.src} -> {ev.dst}",
                 "transport": ev.transport, "kind": str(ev.kind), "frame": ev.frame,
                 "framing": ev.framing, "head": ev.head[:16].hex(" ")}
    if ev.sip is not None:
        out["sip"] = ev.sip.text or f"{ev.sip.start_line}\r\n\r\n{ev.sip.body}"
    if ev.stun is not None:
        s = ev.stun
        out["stun"] = {"method": s.method, "class": s.cls, "transaction_id": s.transaction_id,
                       "attributes": [[k, v] for k, v in s.attributes]}
    if ev.tcp is not None:
        out["tcp"] = {"outcome": ev.tcp.outcome, "syns": ev.tcp.syns,
                      "seen_on": list(ev.tcp.seen_on), "answered_on": list(ev.tcp.answered_on),
                      "tls": ev.tcp.tls}
    return out


def arrows(ladder: Ladder) -> list[Json]:
    """The ladder's arrows in time order, each with its decoded message."""
    t0 = ladder.analysis.start_ns
    by_key = {(ev.ts_ns, ev.frame): ev for ev in ladder.analysis.events}
    out: list[Json] = []
    for row in ladder.rows:
        ev = by_key.get((row.ts_ns, row.frame))
        out.append({
            "id": arrow_id(row.ts_ns, row.src, row.dst), "t": round((row.ts_ns - t0) / 1e9, 6),
            "epoch": row.ts_ns / 1e9, "from": row.src_col, "to": row.dst_col,
            "label": row.label, "group": row.group, "step": row.step, "ok": row.ok,
            "notes": list(row.notes), "src": row.src, "dst": row.dst,
            "transport": row.transport,
            "detail": detail(ev) if ev is not None and row.group != "Media" else
            {"iface": "", "five_tuple": f"{row.transport} {row.src} -> {row.dst}"},
        })
    return out


def steps(ladder: Ladder) -> list[Json]:
    texts = explanations()
    t0 = ladder.analysis.start_ns
    out: list[Json] = []
    for step in ladder.steps:
        ex = texts[step.number]
        ts = step.ts_ns
        out.append({
            "number": step.number, "name": step.spec.name, "message": step.spec.message,
            "status": str(step.status), "seen": step.seen,
            "time": None if ts is None else round((ts - t0) / 1e9, 6),
            "values": dict(step.values), "notes": list(step.notes),
            "what": ex.what, "why": ex.why, "rfc": ex.rfc, "rfc_url": ex.rfc_url,
        })
    return out


def columns(ladder: Ladder) -> list[str]:
    return [c.label for c in ladder.names.columns]


def verdict(ladder: Ladder) -> Json:
    v = ladder.verdict
    return {"passed": v.passed, "summary": v.summary, "stopped_at": v.stopped_at,
            "node": v.node, "reasons": list(v.reasons)}


def media_series(ladder: Ladder) -> list[Json]:
    """Per media direction: bitrate (kbit/s), packets per second and RFC 3550 jitter over
    time, in at most :data:`BINS` intervals, from the packets' capture times."""
    names = ladder.names
    out: list[Json] = []
    for leg in ladder.media:
        if not leg.timeline:
            continue
        out.append({"from": names.name_of(leg.src.ip), "to": names.name_of(leg.dst.ip),
                    "source": str(leg.src), "destination": str(leg.dst),
                    "packets": leg.packets, "bytes": leg.octets, "lost": leg.lost,
                    "gaps": leg.gaps, "jitter_ms": round(leg.jitter_ms, 3),
                    "start": round((leg.first_ns - ladder.analysis.start_ns) / 1e9, 6),
                    "series": _bins(leg)})
    return out


def _bins(leg: MediaLeg) -> list[Json]:
    first = leg.timeline[0][0]
    span = max(leg.timeline[-1][0] - first, 1)
    width = max(span // BINS + 1, 100_000_000)  # at least 100 ms: a few packets per point
    count = span // width + 1
    octets, packets, jitter = [0] * count, [0] * count, [0.0] * count
    for ts, size, jit in leg.timeline:
        i = (ts - first) // width
        octets[i] += size
        packets[i] += 1
        jitter[i] = jit
    seconds = width / 1e9
    last_jitter = 0.0
    out = []
    for i in range(count):
        last_jitter = jitter[i] if packets[i] else last_jitter
        out.append({"t": round(i * seconds, 4), "kbps": round(octets[i] * 8 / seconds / 1000, 2),
                    "pps": round(packets[i] / seconds, 1), "jitter_ms": round(last_jitter, 3)})
    return out


def ice_lists(result: RunResult) -> list[Json]:
    """Each agent's selected pair and check list, with why each pair failed."""
    out: list[Json] = []
    for node, reply in result.outcome.stats.items():
        calls = reply.get("calls")
        info = reply if calls is None else (calls[-1] if calls else {})
        out.append({"node": node, "pair": info.get("pair") or None,
                    "checks": list(info.get("ice") or [])})
    return out


def media_counts(result: RunResult) -> list[Json]:
    """The daemons' own media counters (sent, received, lost, jitter, RTT)."""
    out: list[Json] = []
    for node, reply in result.outcome.stats.items():
        calls = reply.get("calls")
        media = reply.get("media") if calls is None else (calls[-1].get("media") if calls
                                                          else None)
        out.append({"node": node, "media": media})
    return out


def report(result: RunResult) -> Json:
    """The page's after-the-call report."""
    out = result.outcome
    data: Json = {
        "scenario": result.plan.scenario.name, "passed": result.passed,
        "unmet": list(result.unmet), "diagnosis": list(result.diagnosis),
        "reached": out.reached, "problems": list(out.problems), "faults": list(out.faults),
        "setup_s": out.setup_s, "media_s": out.media_s,
        "ice": ice_lists(result), "daemon_media": media_counts(result),
        "timings": {k: round(v, 3) for k, v in result.timings.items()},
    }
    if result.ladder is not None:
        data.update({"verdict": verdict(result.ladder), "steps": steps(result.ladder),
                     "arrows": arrows(result.ladder), "columns": columns(result.ladder),
                     "media": media_series(result.ladder)})
    return data
