"""The ladder as one self-contained HTML page: verdict, the SVG ladder, the step check with the
values (SDPs in full), media statistics, and the capture's warnings."""

from __future__ import annotations

import html
from pathlib import Path

from lab.ladder.compute import Ladder
from lab.ladder.escape import visible
from lab.ladder.render_svg import ladder_svg
from lab.ladder.steps import Status


def escape(text: str) -> str:
    """HTML-escaped, control characters made visible (wire text may hold any byte)."""
    return html.escape(visible(text))

_CSS = """
body{font-family:Helvetica,Arial,sans-serif;margin:24px;color:#222}
h1{font-size:20px} h2{font-size:16px;margin-top:28px}
.pass{color:#2e7d32} .fail{color:#c62828}
table{border-collapse:collapse;font-size:13px} td,th{border:1px solid #ccc;padding:4px 8px;
vertical-align:top;text-align:left} th{background:#eef3fb}
.seen{color:#2e7d32} .missing,.out-of-order,.wrong-value{color:#c62828;font-weight:bold}
.partial{color:#b35900;font-weight:bold} pre{margin:0;font-size:12px}
.svg{overflow-x:auto;border:1px solid #ddd;padding:8px}
.svg svg{max-width:100%;height:auto}
"""


def _status_class(status: Status) -> str:
    return str(status).replace(" ", "-")


def _steps(ladder: Ladder) -> str:
    rows = []
    for step in ladder.steps:
        values = "".join(
            f"<div><b>{escape(k)}</b>: " + (f"<pre>{escape(v)}</pre>" if "\n" in v
                                            else escape(v)) + "</div>"
            for k, v in step.values.items())
        notes = "".join(f"<div>{escape(n)}</div>" for n in step.notes)
        first = step.first
        frame = str(first.frame) if first is not None and first.frame else ""
        rows.append(f"<tr><td>{step.number}</td><td>{escape(step.spec.name)}</td>"
                    f'<td class="{_status_class(step.status)}">{escape(str(step.status))}</td>'
                    f"<td>{frame}</td><td>{notes}{values}</td></tr>")
    return ("<table><tr><th>#</th><th>step</th><th>status</th><th>frame</th>"
            "<th>why / values</th></tr>" + "".join(rows) + "</table>")


def _media(ladder: Ladder) -> str:
    if not ladder.media:
        return "<p>No media in the capture.</p>"
    rows = "".join(
        f"<tr><td>{escape(ladder.names.name_of(m.src.ip))} {escape(str(m.src))}</td>"
        f"<td>{escape(ladder.names.name_of(m.dst.ip))} {escape(str(m.dst))}</td>"
        f"<td>{escape(m.transport)} {escape(m.framing)}</td><td>{m.packets}</td>"
        f"<td>{m.octets}</td><td>{','.join(map(str, m.payload_types))}</td><td>{m.lost}</td>"
        f"<td>{m.jitter_ms:.2f}</td><td>{m.duration_s:.2f}</td></tr>" for m in ladder.media)
    return ("<table><tr><th>from</th><th>to</th><th>transport</th><th>packets</th><th>bytes"
            "</th><th>PT</th><th>lost</th><th>jitter ms</th><th>seconds</th></tr>"
            + rows + "</table>")


def ladder_html(ladder: Ladder) -> str:
    v, a = ladder.verdict, ladder.analysis
    reasons = "".join(f"<li>{escape(r)}</li>" for r in v.reasons)
    reasons += "".join(f"<li>other traffic: {escape(r)}</li>" for r in v.other)
    warnings = "".join(f"<li>{escape(w)}</li>" for w in a.warnings)
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>uclab ladder: {escape(a.path)}</title><style>{_CSS}</style></head><body>"
        f"<h1>Screen share ladder: {escape(a.path)}</h1>"
        f'<p class="{"pass" if v.passed else "fail"}"><b>{escape(v.summary)}</b></p>'
        + (f"<ul>{reasons}</ul>" if reasons else "")
        + f"<p>{a.packets} packets on {len(a.interfaces)} interfaces; columns "
        f"{escape(ladder.names.source)}</p>"
        + (f"<ul>{warnings}</ul>" if warnings else "")
        + f'<h2>Ladder</h2><div class="svg">{ladder_svg(ladder)}</div>'
        f"<h2>Canonical steps (flow.md §3)</h2>{_steps(ladder)}"
        f"<h2>Media</h2>{_media(ladder)}</body></html>\n")


def write_html(ladder: Ladder, path: Path) -> None:
    path.write_text(ladder_html(ladder), encoding="utf-8")
