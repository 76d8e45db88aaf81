"""The topology as a picture: a self-contained SVG (no Graphviz needed) laid out in columns.

Hosts and segments alternate from top to bottom in breadth-first order from the first node;
a segment bridged by a firewall (or switch) is drawn as that bridge. Each host box lists its
interfaces with addresses, its routes, forwarding and NAT, so the picture is a full map.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from html import escape

from lab.topology.model import Node, Segment, Topology

CHAR_W = 6.7  # px per character, 11 px monospace
LINE_H = 15
PAD = 8
GAP_X = 30
GAP_Y = 38
MARGIN = 20
TITLE_H = 34


@dataclass
class _Box:
    key: tuple[str, str]  # ("node" | "segment", name)
    lines: list[str]
    column: int = 0
    x: float = 0.0
    y: float = 0.0

    @property
    def w(self) -> float:
        return max(len(t) for t in self.lines) * CHAR_W + 2 * PAD

    @property
    def h(self) -> float:
        return len(self.lines) * LINE_H + 2 * PAD


def node_lines(node: Node) -> list[str]:
    """The text of a host's box."""
    role = node.role + (", forwarding" if node.forwarding else "")
    lines = [node.name, role]
    lines += [f"{i.name} {i.address}" for i in node.interfaces if i.address is not None]
    lines += [str(r) for r in node.routes]
    if node.nat is not None:
        lines.append(f"SNAT {node.nat.source} -> {node.nat.to}")
        lines += [f"pin {p.inside} -> {p.outside}" for p in node.nat.pinned]
    return lines


def segment_lines(topo: Topology, seg: Segment) -> list[str]:
    if seg.bridge is None:
        return [seg.name, str(seg.subnet), "veth"]
    bridge = topo.node(seg.bridge)
    return [seg.bridge, f"{bridge.role} (bridge {seg.name})", str(seg.subnet)]


def _columns(topo: Topology) -> dict[tuple[str, str], _Box]:
    boxes: dict[tuple[str, str], _Box] = {}
    for n in topo.nodes:
        if n.kind == "host":
            boxes["node", n.name] = _Box(("node", n.name), node_lines(n))
    for s in topo.segments:
        boxes["segment", s.name] = _Box(("segment", s.name), segment_lines(topo, s))
    adjacent: dict[tuple[str, str], list[tuple[str, str]]] = {k: [] for k in boxes}
    for s in topo.segments:
        for e in s.endpoints:
            adjacent["segment", s.name].append(("node", e.node))
            adjacent["node", e.node].append(("segment", s.name))
    seen: set[tuple[str, str]] = set()
    for start in boxes:
        if start in seen:
            continue
        seen.add(start)
        queue = deque([start])
        while queue:
            here = queue.popleft()
            for nxt in adjacent[here]:
                if nxt not in seen:
                    seen.add(nxt)
                    boxes[nxt].column = boxes[here].column + 1
                    queue.append(nxt)
    return boxes


def _place(boxes: dict[tuple[str, str], _Box], min_w: float) -> tuple[float, float]:
    """Rows by breadth-first depth, top to bottom; each row centred. Returns the canvas size."""
    rows: dict[int, list[_Box]] = {}
    for b in boxes.values():
        rows.setdefault(b.column, []).append(b)
    widths = {r: sum(b.w for b in bs) + GAP_X * (len(bs) - 1) for r, bs in rows.items()}
    total_w = max([*widths.values(), min_w])
    y = float(MARGIN + TITLE_H)
    for r in sorted(rows):
        x = MARGIN + (total_w - widths[r]) / 2
        for b in rows[r]:
            b.x, b.y = x, y
            x += b.w + GAP_X
        y += max(b.h for b in rows[r]) + GAP_Y
    return total_w + 2 * MARGIN, y - GAP_Y + MARGIN


def _text(x: float, y: float, text: str, cls: str, *, anchor: str = "start") -> str:
    end = ' text-anchor="end"' if anchor == "end" else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" class="{cls}"{end}>{escape(text)}</text>'


def _box(b: _Box, fill: str) -> list[str]:
    out = [f'<rect x="{b.x:.1f}" y="{b.y:.1f}" width="{b.w:.1f}" height="{b.h:.1f}" rx="6" '
           f'fill="{fill}" stroke="#444"/>']
    for i, line in enumerate(b.lines):
        cls = "name" if i == 0 else ("role" if i == 1 else "detail")
        out.append(_text(b.x + PAD, b.y + PAD + (i + 1) * LINE_H - 4, line, cls))
    return out


def _edge(seg: Segment, boxes: dict[tuple[str, str], _Box]) -> list[str]:
    out = []
    s = boxes["segment", seg.name]
    for end in seg.endpoints:
        n = boxes["node", end.node]
        upper, lower = (n, s) if n.column < s.column else (s, n)
        x1, y1 = upper.x + upper.w / 2, upper.y + upper.h
        x2, y2 = lower.x + lower.w / 2, lower.y
        out.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
                   'stroke="#444" stroke-width="1.5"/>')
        out.append(_port_label((x1, y1, x2, y2), end.interface, node_above=n is upper))
    return out


def _port_label(line: tuple[float, float, float, float], name: str, *,
                node_above: bool) -> str:
    """The interface's name beside the node's end of its line, on the side the line does not
    go to (a name written along the line is crossed by it)."""
    x1, y1, x2, y2 = line
    nx, ny = (x1, y1) if node_above else (x2, y2)
    other_x = x2 if node_above else x1
    y = ny + LINE_H if node_above else ny - 6
    if other_x > nx + 1:  # the line leaves to the right: the name on the left, ending there
        return _text(nx - 6, y, name, "port", anchor="end")
    return _text(nx + 6, y, name, "port")


def svg(topo: Topology) -> str:
    """The whole topology as an SVG document."""
    boxes = _columns(topo)
    title = f"{topo.name}: {topo.description}" if topo.description else topo.name
    width, height = _place(boxes, len(title) * 8.5)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}">',
        "<style>text{font-family:monospace;font-size:11px;fill:#222}"
        ".name{font-weight:bold;font-size:12px}.role{fill:#666}.port{fill:#245;font-size:10px}"
        ".title{font-size:14px;font-weight:bold}</style>",
        f'<rect width="{width:.0f}" height="{height:.0f}" fill="white"/>',
        _text(MARGIN, MARGIN + 14, title, "title"),
    ]
    for seg in topo.segments:
        out += _edge(seg, boxes)
    for key, b in boxes.items():
        if key[0] == "node":
            out += _box(b, "#e8f0fb")
        else:
            bridged = topo.segment(key[1]).bridge is not None
            out += _box(b, "#fde7cf" if bridged else "#eeeeee")
    out.append("</svg>")
    return "\n".join(out) + "\n"
