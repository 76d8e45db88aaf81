"""The ladder of one capture: analysis, columns, canonical steps, verdict, and the rows every
renderer draws (one arrow per message between two columns, media as one arrow per direction).

    ladder = build_ladder("run.pcapng", names=None, keylog=None)
    print(ladder.verdict.summary)
    for row in ladder.rows: ...
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lab.base.errors import InputError
from lab.capture.pcapfile import Capture, read_capture
from lab.capture.stream import CaptureStream, Progress, open_capture
from lab.ladder.analysis import Analysis, Decryptor, analyse_capture
from lab.ladder.check import Expectations, check_steps
from lab.ladder.columns import Names, infer_names, lab_names_for, lab_topology_for, load_names
from lab.ladder.events import Event, Kind, MediaLeg
from lab.ladder.steps import StepResult
from lab.ladder.verdict import Verdict, judge

if TYPE_CHECKING:
    from lab.ladder.trail import Wire
    from lab.topology import Topology

#: Values written under an arrow, as the tech note's figures do (XOR-MAPPED-ADDRESS...):
#: step -> (index of the step's observation that carries them, value names).
ANNOTATE: dict[int, tuple[int, tuple[str, ...]]] = {
    6: (0, ("REQUESTED-TRANSPORT",)), 7: (0, ("ERROR-CODE", "REALM")),
    8: (0, ("USERNAME",)), 9: (0, ("XOR-RELAYED-ADDRESS", "XOR-MAPPED-ADDRESS")),
    10: (0, ("XOR-PEER-ADDRESS",)), 17: (1, ("first bytes",)),
    18: (0, ("XOR-PEER-ADDRESS", "CONNECTION-ID")), 19: (0, ("CONNECTION-ID",)),
    20: (0, ("first bytes",)),
}


@dataclass(frozen=True)
class Row:
    """One arrow: from column ``src_col`` to ``dst_col`` (indexes into names.columns)."""

    ts_ns: int
    frame: int
    src_col: int
    dst_col: int
    label: str
    group: str  # "SIP", "TURN", "ICE", "TCP", "Media"
    src: str  # address:port
    dst: str
    transport: str
    step: int | None = None
    ok: bool = True
    notes: tuple[str, ...] = ()


@dataclass
class Ladder:
    analysis: Analysis
    names: Names
    steps: list[StepResult]
    verdict: Verdict
    rows: list[Row] = field(default_factory=list)
    elapsed_s: float = 0.0
    wire: Wire | None = None  # the taps and paths the diagnosis reads (lab.run.diagnose)

    @property
    def media(self) -> list[MediaLeg]:
        return self.analysis.media


def build_ladder(capture: Path | str | Capture, *, names: Names | Path | str | None = None,
                 keylog: Path | str | bytes | None = None,
                 expect: Expectations | None = None,
                 topology: Topology | None = None,
                 progress: Progress | None = None,
                 decryptor: Decryptor | None = None) -> Ladder:
    """Read (streamed, in constant memory: :mod:`lab.capture.stream`) or take a capture and
    build its ladder, step check and verdict. With names, only the packets of their
    addresses are kept; ``progress`` is told (bytes read, file size) as the file is read.
    With the lab's ``topology`` (found by itself for a capture whose interfaces are the
    default lab's), a step is seen where its receiver's tap saw it (:mod:`lab.ladder.delivery`);
    ``decryptor`` opens TLS (tshark by default; another one gets the capture read whole)."""
    start = time.perf_counter()
    given = names if isinstance(names, Names) or names is None else load_names(names)
    addresses = () if given is None else _addresses(given)
    source: Capture | CaptureStream
    if isinstance(capture, Capture):
        source = capture
    elif decryptor is not None:
        source = read_capture(capture)
    else:
        source = open_capture(capture, progress)
    analysis = analyse_capture(source, _keylog(keylog), addresses=addresses,
                               decryptor=decryptor)
    resolved = given or lab_names_for(analysis.interfaces) or infer_names(analysis.events)
    from lab.ladder.delivery import undelivered  # noqa: PLC0415 - it imports the ladder's
    from lab.ladder.trail import Paths, Taps, Wire  # noqa: PLC0415 - modules

    topo = topology or lab_topology_for(analysis.interfaces)
    # the taps see the segments the analysis kept (all of a lab's capture), read once
    wire = Wire(Taps(analysis.segments), Paths(topo) if topo is not None else None)
    steps = check_steps(analysis, resolved, expect)
    undelivered(steps, wire)
    verdict = judge(steps, analysis, resolved, wire)
    ladder = Ladder(analysis, resolved, steps, verdict, wire=wire)
    ladder.rows = rows(ladder)
    ladder.elapsed_s = time.perf_counter() - start
    return ladder


def _addresses(names: Names) -> set[str]:
    """Every address a names file gives (columns and hosts)."""
    found = {a for col in names.columns for a in col.addresses} | set(names.hosts)
    return found if any(col.addresses for col in names.columns) else set()


def _keylog(keylog: Path | str | bytes | None) -> bytes:
    if keylog is None:
        return b""
    if isinstance(keylog, bytes):
        return keylog
    try:
        return Path(keylog).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the TLS key log: {exc.strerror}", keylog,
                         fix="give the NSS key log file (SSLKEYLOGFILE format)") from None


def _group(ev: Event) -> str:
    if ev.kind is Kind.SIP:
        return "SIP"
    if ev.kind is Kind.TCP:
        return "TCP"
    if ev.stun is not None and ev.stun.method == "Binding":
        return "ICE"
    return "TURN"


def rows(ladder: Ladder) -> list[Row]:
    """The arrows of this flow: step messages, TCP set-ups, STUN/TURN, the share dialogs' SIP,
    SIP errors, and one arrow per media direction; only between two different columns."""
    names = ladder.names
    step_of: dict[int, tuple[int, bool]] = {}
    calls: set[str] = set()
    for step in ladder.steps:
        for part in step.parts:
            if part.event is not None:
                step_of.setdefault(id(part.event), (step.number, part.ok))
                if part.event.sip is not None:
                    calls.add(part.event.sip.call_id)
    out: list[Row] = []
    for ev in ladder.analysis.events:
        cols = _cols(names, ev.src.ip, ev.dst.ip)
        if cols is None or not _wanted(ev, id(ev) in step_of, calls):
            continue
        number, ok = step_of.get(id(ev), (None, True))
        if ev.tcp is not None:
            ok = ev.tcp.outcome == "established"
        out.append(Row(ev.ts_ns, ev.frame, cols[0], cols[1], _label(ev), _group(ev),
                       str(ev.src), str(ev.dst), ev.transport, number, ok,
                       _notes(ladder, number, ev)))
    for leg in ladder.analysis.media:
        cols = _cols(names, leg.src.ip, leg.dst.ip)
        if cols is not None and leg.packets:
            pts = ",".join(str(p) for p in leg.payload_types)
            label = f"RTP PT {pts} x{leg.packets}" if pts else f"{leg.framing} x{leg.packets}"
            out.append(Row(leg.first_ns, leg.first_frame, cols[0], cols[1], label, "Media",
                           str(leg.src), str(leg.dst), leg.transport, 33))
    return sorted(out, key=lambda r: (r.ts_ns, r.frame))


def _cols(names: Names, src: str, dst: str) -> tuple[int, int] | None:
    a, b = names.role_of(src), names.role_of(dst)
    if a is None or b is None or a == b:
        return None
    return names.column_index(a), names.column_index(b)


def _wanted(ev: Event, is_step: bool, calls: set[str]) -> bool:
    if is_step or ev.kind is not Kind.SIP or ev.sip is None:
        return True
    return ev.sip.call_id in calls or (ev.sip.status or 0) >= 300


def _label(ev: Event) -> str:
    label = ev.label
    if ev.sip is not None and ev.sip.to_tag and ev.sip.method == "INVITE":
        label = "re-INVITE"
    if ev.tcp is not None and ev.tcp.outcome != "established":
        label += f" ({ev.tcp.outcome})"
    return label


def _notes(ladder: Ladder, number: int | None, ev: Event) -> tuple[str, ...]:
    notes: list[str] = []
    if number is not None and number in ANNOTATE:
        step = ladder.steps[number - 1]
        index, keys = ANNOTATE[number]
        if index < len(step.parts) and step.parts[index].event is ev:
            notes += [f"{k}: {step.values[k]}" for k in keys if k in step.values]
    if ev.sip is not None:
        notes += [line for line in ev.sip.body.splitlines() if line.startswith("m=")]
        notes += list(ev.sip.diagnostics)
    return tuple(notes)
