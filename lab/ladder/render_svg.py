"""The ladder as an SVG picture in the style of the tech note's figures: product names over
their addresses, one lifeline per address (Expressway-E's outside and inside legs apart), the
Internet between the Skype side and Expressway-E, section labels (SIP, TURN, ICE, Media) on the
left, each arrow labelled above with ``TCP <port>`` at its ends and the values the note writes
under its arrows (XOR-MAPPED-ADDRESS...), and the step's meaning on the right."""

from __future__ import annotations

import re
from pathlib import Path
from xml.sax.saxutils import escape as _xml_escape
from xml.sax.saxutils import unescape

from lab.ladder.compute import Ladder, Row
from lab.ladder.escape import visible
from lab.ladder.steps import BY_NUMBER


def escape(text: str) -> str:
    """XML-escaped, control characters made visible (invalid in XML 1.0)."""
    return _xml_escape(visible(text))

LEFT, LANE, COL_GAP, TOP = 140, 150, 70, 150
ROW_H, NOTE_H = 34, 14
COLORS = {"SIP": "#1f3a93", "TURN": "#b35900", "ICE": "#7b1fa2", "TCP": "#777777",
          "Media": "#2e7d32"}
FAIL = "#c62828"


def _lanes(ladder: Ladder) -> list[tuple[int, str]]:
    """(column index, address) of every lifeline, in column order."""
    used = {a for r in ladder.rows for a in (r.src.rsplit(":", 1)[0], r.dst.rsplit(":", 1)[0])}
    lanes: list[tuple[int, str]] = []
    for i, col in enumerate(ladder.names.columns):
        shown = [a for a in col.addresses if a in used] or list(col.addresses[:1]) or [""]
        lanes += [(i, a) for a in shown]
    return lanes


def _xs(lanes: list[tuple[int, str]]) -> list[float]:
    xs, x, prev = [], float(LEFT), None
    for col, _addr in lanes:
        if prev is not None:
            x += LANE if col == prev else LANE + COL_GAP
        xs.append(x)
        prev = col
    return xs


def _text(x: float, y: float, text: str, *, size: int = 12, anchor: str = "middle",
          weight: str = "normal", fill: str = "#000") -> str:
    return (f'<text x="{x:.0f}" y="{y:.0f}" font-size="{size}" text-anchor="{anchor}" '
            f'font-weight="{weight}" fill="{fill}">{escape(text)}</text>')


#: A text's width, at most, as a share of its font size per character: Helvetica's widest
#: letters (M, W) are 0.83 em, its capitals about 0.7; 0.62 keeps names of mixed case inside.
EM_PER_CHAR = 0.62
_TEXT = re.compile(r'<text x="([0-9.]+)" y="[^"]*" font-size="([0-9]+)" text-anchor="(\w+)"'
                   r'[^>]*>([^<]*)</text>')


def _right_edge(element: str) -> float:
    """Where a ``<text>`` element drawn by :func:`_text` ends on the right (0 for others)."""
    m = _TEXT.match(element)
    if m is None:
        return 0.0
    x, size, anchor, text = float(m[1]), int(m[2]), m[3], unescape(m[4])
    span = len(text) * size * EM_PER_CHAR
    return x + (span if anchor == "start" else span / 2 if anchor == "middle" else 0)


def _header(ladder: Ladder, lanes: list[tuple[int, str]], xs: list[float]) -> list[str]:
    out = []
    for i, col in enumerate(ladder.names.columns):
        mine = [x for (c, _a), x in zip(lanes, xs, strict=True) if c == i]
        x0, x1 = min(mine) - LANE / 2 + 8, max(mine) + LANE / 2 - 8
        out.append(f'<rect x="{x0:.0f}" y="20" width="{x1 - x0:.0f}" height="44" rx="8" '
                   f'fill="#eef3fb" stroke="#1f3a93"/>')
        out.append(_text((x0 + x1) / 2, 48, col.label, size=15, weight="bold"))
    for (_c, addr), x in zip(lanes, xs, strict=True):
        out.append(_text(x, 86, addr, size=12, fill="#333"))
    sfb = [x for (c, _a), x in zip(lanes, xs, strict=True) if c == 0]
    expe = [x for (c, _a), x in zip(lanes, xs, strict=True) if c == 1]
    if sfb and expe:
        mid = (max(sfb) + min(expe)) / 2
        out.append(_text(mid, 112, "Internet", size=13, fill="#555", weight="bold"))
        out.append(f'<ellipse cx="{mid:.0f}" cy="108" rx="46" ry="16" fill="none" '
                   f'stroke="#999" stroke-dasharray="4 3"/>')
    return out


def _arrow(row: Row, x1: float, x2: float, y: float) -> list[str]:
    color = COLORS.get(row.group, "#000") if row.ok else FAIL
    width = 4 if row.group == "Media" else 1.6
    dash = ' stroke-dasharray="6 4"' if row.group == "TCP" or not row.ok else ""
    marker = "media" if row.group == "Media" else ("fail" if not row.ok else row.group)
    out = [f'<line x1="{x1:.0f}" y1="{y:.0f}" x2="{x2:.0f}" y2="{y:.0f}" stroke="{color}" '
           f'stroke-width="{width}"{dash} marker-end="url(#head-{marker})"/>',
           _text((x1 + x2) / 2, y - 5, row.label, size=12, fill=color)]
    sport, dport = row.src.rsplit(":", 1)[-1], row.dst.rsplit(":", 1)[-1]
    left, right = (sport, dport) if x1 < x2 else (dport, sport)
    out.append(_text(min(x1, x2) + 4, y + 12, f"{row.transport} {left}", size=9,
                     anchor="start", fill="#555"))
    out.append(_text(max(x1, x2) - 4, y + 12, f"{row.transport} {right}", size=9,
                     anchor="end", fill="#555"))
    return out


def _marker(key: str, color: str, size: int) -> str:
    half = size * 0.4
    return (f'<marker id="head-{key}" markerWidth="{size}" markerHeight="{2 * half:.0f}" '
            f'refX="{size - 1}" refY="{half:.0f}" orient="auto" markerUnits="userSpaceOnUse">'
            f'<path d="M0,0 L{size},{half:.0f} L0,{2 * half:.0f} z" fill="{color}"/></marker>')


def _defs() -> str:
    heads = {**COLORS, "fail": FAIL, "media": COLORS["Media"]}
    marks = "".join(_marker(k, v, 16 if k == "media" else 10) for k, v in heads.items())
    return f"<defs>{marks}</defs>"


def ladder_svg(ladder: Ladder) -> str:
    lanes = _lanes(ladder)
    xs = _xs(lanes)
    lane_of = {addr: x for (_c, addr), x in zip(lanes, xs, strict=True)}
    col_x = {c: x for (c, _a), x in zip(lanes, xs, strict=True)}
    notes_x = max(xs) + LANE / 2 + 20
    body: list[str] = []
    y, group = float(TOP), ""
    t0 = ladder.rows[0].ts_ns if ladder.rows else 0
    named: set[int] = set()
    for row in ladder.rows:
        y += ROW_H
        if row.group not in (group, "TCP"):
            group = row.group
            body.append(_text(8, y - 10, group, size=14, anchor="start", weight="bold",
                              fill=COLORS.get(group, "#000")))
        x1 = lane_of.get(row.src.rsplit(":", 1)[0], col_x[row.src_col])
        x2 = lane_of.get(row.dst.rsplit(":", 1)[0], col_x[row.dst_col])
        body += _arrow(row, x1, x2, y)
        body.append(_text(LEFT - 36, y + 4, f"+{(row.ts_ns - t0) / 1e9:.3f}", size=9,
                          anchor="end", fill="#777"))
        if row.step is not None:
            body.append(f'<circle cx="{LEFT - 22:.0f}" cy="{y:.0f}" r="9" fill="#fff" '
                        f'stroke="#1f3a93"/>')
            body.append(_text(LEFT - 22, y + 4, str(row.step), size=9))
            if row.step not in named:
                named.add(row.step)
                body.append(_text(notes_x, y + 4, BY_NUMBER[row.step].name, size=11,
                                  anchor="start", fill="#333"))
        for note in row.notes:
            y += NOTE_H
            body.append(_text(min(x1, x2) + 8, y + 12, note, size=10, anchor="start",
                              fill="#444"))
    height = y + 40
    header = _header(ladder, lanes, xs)
    width = max((_right_edge(line) for line in [*header, *body]), default=notes_x) + 30
    lines = [f'<line x1="{x:.0f}" y1="96" x2="{x:.0f}" y2="{height - 20:.0f}" stroke="#bbb" '
             f'stroke-width="1.2"/>' for x in xs]
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" '
            f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
            f'font-family="Helvetica, Arial, sans-serif">')
    return "\n".join([head, _defs(), '<rect width="100%" height="100%" fill="#fff"/>',
                      *header, *lines, *body, "</svg>"]) + "\n"


def write_svg(ladder: Ladder, path: Path) -> None:
    path.write_text(ladder_svg(ladder), encoding="utf-8")
