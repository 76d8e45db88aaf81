"""The ladder in a terminal: the seed's four columns with their addresses, one arrow per message
with its ports, the values the tech note writes under its arrows; then the step check, media
and verdict. Built as ``rich.text.Text`` lines, so tests read ``.plain``."""

from __future__ import annotations

import textwrap

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from lab.ladder.compute import ANNOTATE, Ladder, Row
from lab.ladder.escape import visible
from lab.ladder.steps import Status

GROUP_STYLE = {"SIP": "cyan", "TURN": "yellow", "ICE": "magenta", "TCP": "white",
               "Media": "green"}
STATUS_STYLE = {Status.SEEN: "green", Status.PARTIAL: "yellow", Status.MISSING: "red",
                Status.OUT_OF_ORDER: "red", Status.WRONG: "red"}
MARGIN = 12  # "+12.345  33 "
_HIDDEN = {"SDP", "transaction", "transport"}


#: The narrowest column: an address (192.168.251.128 is 15 characters) and a space.
MIN_COLUMN = 16


def _fit(ncols: int, width: int) -> int:
    """The canvas width: what was asked, but never too narrow for the columns (four columns fit
    an 80-column terminal; a long message label is shortened, an address never)."""
    return max(width, MARGIN + 2 + ncols * MIN_COLUMN)


def _positions(ncols: int, width: int) -> list[int]:
    span = width - MARGIN - 2
    step = span // ncols
    return [MARGIN + step // 2 + i * step for i in range(ncols)]


def _canvas(width: int, xs: list[int]) -> list[str]:
    line = [" "] * width
    for x in xs:
        line[x] = "│"
    return line


def _port(addr: str) -> str:
    return ":" + addr.rsplit(":", 1)[-1]


def _arrow(row: Row, xs: list[int], width: int) -> tuple[str, int, int]:
    """The arrow line and the span (start, end) of its body."""
    line = _canvas(width, xs)
    a, b = xs[row.src_col], xs[row.dst_col]
    lo, hi = min(a, b), max(a, b)
    body = ["─"] * (hi - lo - 1)
    if a < b:
        body[-1] = "▶"
    else:
        body[0] = "◀"
    label = visible(row.label)
    text = f" {label} "
    if len(text) + 2 > len(body) >= 8:  # too long: cut it, never drop it
        text = f" {label[: len(body) - 5]}… "
    if len(text) + 2 <= len(body):
        start = (len(body) - len(text)) // 2
        body[start:start + len(text)] = list(text)
    src, dst = _port(row.src), _port(row.dst)
    near_src, near_dst = (0, len(body) - len(dst) - 1) if a < b else (len(body) - len(src), 1)
    for text_, at in ((src, near_src), (dst, near_dst)):
        free = at >= 0 and all(c == "─" for c in body[at:at + len(text_)])
        if free and len(body) > len(label) + len(src) + len(dst) + 8:
            body[at:at + len(text_)] = list(text_)
    line[lo + 1:hi] = body
    return "".join(line), lo + 1, hi


def header_lines(ladder: Ladder, width: int) -> list[Text]:
    cols = ladder.names.columns
    width = _fit(len(cols), width)
    xs = _positions(len(cols), width)
    depth = max((len(c.addresses) for c in cols), default=0)
    lines = []
    for level in range(depth + 1):
        line = [" "] * width
        for col, x in zip(cols, xs, strict=True):
            items = [col.label, *col.addresses]
            if level < len(items):
                text = items[level]
                start = max(0, min(width - len(text), x - len(text) // 2))
                line[start:start + len(text)] = list(text)
        lines.append(Text("".join(line).rstrip(), style="bold" if level == 0 else "dim"))
    return lines


def ladder_lines(ladder: Ladder, width: int = 120) -> list[Text]:
    """Header, then one line per arrow (and one per value written under it)."""
    width = _fit(len(ladder.names.columns), width)
    xs = _positions(len(ladder.names.columns), width)
    t0 = ladder.rows[0].ts_ns if ladder.rows else 0
    lines = header_lines(ladder, width)
    group = ""
    for row in ladder.rows:
        if row.group not in (group, "TCP"):
            group = row.group
            lines.append(Text(group, style="bold " + GROUP_STYLE.get(group, "")))
        arrow, lo, hi = _arrow(row, xs, width)
        stamp = f"+{(row.ts_ns - t0) / 1e9:.3f}"
        step = f"{row.step:>3}" if row.step is not None else "   "
        text = Text(f"{stamp:>8}{step} ")
        text.append(arrow[MARGIN:lo])
        style = GROUP_STYLE.get(row.group, "") if row.ok else "bold red"
        text.append(arrow[lo:hi], style=style)
        text.append(arrow[hi:].rstrip())
        lines.append(text)
        for note in row.notes:
            lines += _note_lines(visible(note), lo, xs, width)
    return lines


def _note_lines(note: str, lo: int, xs: list[int], width: int) -> list[Text]:
    """A value under its arrow, over the next lifelines as in the tech note's figures; what
    does not fit goes on the next line, broken between words: never cut (an SDP line ends
    with a port)."""
    start = lo + 1 if width - lo - 2 >= 24 else MARGIN  # too little room: from the margin
    out = []
    for chunk in textwrap.wrap(note, width - start - 1, break_on_hyphens=False) or [""]:
        canvas = _canvas(width, xs)
        canvas[start:start + len(chunk)] = list(chunk)
        out.append(Text("".join(canvas).rstrip(), style="dim"))
    return out


def steps_table(ladder: Ladder) -> Table:
    table = Table(title="Canonical steps (flow.md §3)", show_lines=False, expand=False)
    for name in ("#", "step", "status", "time", "values / why"):
        table.add_column(name, overflow="fold")
    t0 = ladder.rows[0].ts_ns if ladder.rows else 0
    for step in ladder.steps:
        ts = step.ts_ns
        when = f"+{(ts - t0) / 1e9:.3f}" if ts is not None else ""
        keys = [*ANNOTATE.get(step.number, (0, ()))[1], "from", "to", *step.values]
        shown = list(dict.fromkeys(k for k in keys if k in step.values and k not in _HIDDEN))
        detail = "\n".join(visible(line) for line in
                           step.notes + [f"{k}: {step.values[k]}" for k in shown[:4]])
        table.add_row(str(step.number), step.spec.name,
                      Text(str(step.status), style=STATUS_STYLE[step.status]), when, detail)
    return table


def media_table(ladder: Ladder) -> Table:
    table = Table(title="Media (from the capture, RFC 3550 statistics)")
    for name in ("from", "to", "transport", "packets", "bytes", "PT", "lost", "jitter ms",
                 "seconds"):
        table.add_column(name)
    for leg in ladder.media:
        table.add_row(f"{ladder.names.name_of(leg.src.ip)} {leg.src}",
                      f"{ladder.names.name_of(leg.dst.ip)} {leg.dst}",
                      f"{leg.transport} {leg.framing}",
                      _packets(leg.packets, leg.rtcp),
                      str(leg.octets),
                      ",".join(map(str, leg.payload_types)), str(leg.lost),
                      f"{leg.jitter_ms:.2f}", f"{leg.duration_s:.2f}")
    return table


def _packets(rtp: int, rtcp: int) -> str:
    """RTP packets, and the RTCP packets of the same flow (an RTCP-only leg says so)."""
    if not rtcp:
        return str(rtp)
    return f"{rtp} (+{rtcp} RTCP)" if rtp else f"RTCP {rtcp}"


def summary_lines(ladder: Ladder) -> list[Text]:
    a = ladder.analysis
    seconds = (a.end_ns - a.start_ns) / 1e9
    lines = [Text(f"capture {a.path}: {a.packets} packets on {len(a.interfaces)} interfaces, "
                  f"{seconds:.2f} s; {len(a.connections)} TCP connections, "
                  f"{len(a.events)} messages; TLS decrypted {a.tls_decrypted}, "
                  f"not decrypted {a.tls_opaque}", style="dim"),
             Text(f"columns: {ladder.names.source}", style="dim")]
    lines += [Text(f"warning: {visible(w)}", style="yellow") for w in a.warnings]
    lines += [Text(f"decoded: {n}", style="dim") for n in a.decoded]
    if not ladder.rows:
        given = ladder.names.source.startswith(("names file", "topology"))
        hint = ("check the addresses of the columns in the names file" if given else
                "if the capture holds it, say which address is which with --names FILE")
        lines.append(Text(f"no message of this flow between two of the four columns: {hint}",
                          style="yellow"))
    return lines


def verdict_lines(ladder: Ladder) -> list[Text]:
    v = ladder.verdict
    lines = [Text(visible(v.summary), style="bold green" if v.passed else "bold red")]
    lines += [Text(f"  because: {visible(reason)}", style="red") for reason in v.reasons]
    lines += [Text(f"  other traffic: {visible(line)}", style="dim") for line in v.other]
    return lines


def report(ladder: Ladder, width: int = 120) -> RenderableType:
    """Everything ``uclab ladder`` prints: summary, ladder, steps, media, verdict."""
    parts: list[RenderableType] = [*summary_lines(ladder), Text(""), *ladder_lines(ladder, width),
                                   Text(""), steps_table(ladder)]
    if ladder.media:
        parts.append(media_table(ladder))
    parts += verdict_lines(ladder)
    return Group(*parts)
