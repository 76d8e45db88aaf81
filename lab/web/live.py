"""The ladder of a call while it happens, from the capture files tcpdump is still writing.

Each interface's tcpdump writes a classic pcap, flushed packet by packet (``-U``,
:func:`lab.kernel.start_tcpdump`). :class:`GrowingCapture` reads each file incrementally (only
the bytes added since the last look; a record cut short waits for the next look) and gives a
:class:`~lab.capture.pcapfile.Capture` of everything so far, interfaces named ``node:iface``
and grouped as :func:`lab.capture.merge.merge_parts` writes them.

Two passes make the live view (:class:`LiveLadder`), both the ladder's own code on the
capture so far:

* fast (every tick, tens of ms): with the key log as it stands and TLS 1.3 records opened
  in-process (:mod:`lab.web.tls13`), so TURN, ICE, TCP connects, media and the SIP messages
  appear as soon as the capture holds them;
* tshark (back to back, one tshark run each), only while some TLS stream stays closed to the
  fast pass (TLS 1.2, say): the ladder's own decryption, as after the call.

An arrow keeps its identity (time, source, destination) across passes.
"""

from __future__ import annotations

import dataclasses
import struct
import threading
from pathlib import Path
from typing import Any

from lab.capture.pcapfile import (
    PCAP_MAGIC_NS,
    PCAP_MAGIC_US,
    Capture,
    Interface,
    Packet,
)
from lab.ladder import Ladder, Names, build_ladder
from lab.ladder.analysis import Decryptor
from lab.topology import Topology
from lab.web import present, tls13

_REC = struct.Struct("<IIII")
MAX_PART = 256 << 20  # a part larger than this is not followed live (the final ladder is)


@dataclasses.dataclass
class _Part:
    path: Path
    name: str
    offset: int = 0
    linktype: int | None = None
    nano: bool = True
    packets: list[tuple[int, bytes, int]] = dataclasses.field(default_factory=list)

    def read_more(self, since_ns: int) -> None:
        try:
            with self.path.open("rb") as f:
                f.seek(self.offset)
                data = f.read(MAX_PART - self.offset)
        except OSError:
            return
        pos = 0
        if self.linktype is None:
            if len(data) < 24:
                return
            magic = struct.unpack_from("<I", data)[0]
            if magic not in (PCAP_MAGIC_NS, PCAP_MAGIC_US):
                self.offset = MAX_PART  # not a little-endian pcap: not followed
                return
            self.nano = magic == PCAP_MAGIC_NS
            self.linktype = struct.unpack_from("<I", data, 20)[0] & 0x03FFFFFF
            pos = 24
        scale = 1 if self.nano else 1000
        while pos + 16 <= len(data):
            sec, frac, incl, orig = _REC.unpack_from(data, pos)
            end = pos + 16 + incl
            if end > len(data):
                break
            ts = sec * 1_000_000_000 + frac * scale
            if ts >= since_ns:
                self.packets.append((ts, data[pos + 16:end], orig))
            pos = end
        self.offset += pos


class GrowingCapture:
    """The capture files of one run folder (``captures/<node>_<iface>.pcap``), read as they
    grow; packets older than ``since_ns`` (a previous run's files) are left out."""

    def __init__(self, folder: Path, nodes: list[str], since_ns: int) -> None:
        self.folder, self.since_ns = folder, since_ns
        self.nodes = sorted(nodes, key=len, reverse=True)  # longest name first
        self._parts: dict[Path, _Part] = {}
        self._lock = threading.Lock()

    def _name(self, path: Path) -> str | None:
        stem = path.stem
        for node in self.nodes:
            if stem.startswith(node + "_"):
                return f"{node}:{stem[len(node) + 1:]}"
        return None

    def snapshot(self) -> Capture:
        with self._lock:
            for path in sorted(self.folder.glob("*.pcap")):
                if path not in self._parts and (name := self._name(path)) is not None:
                    self._parts[path] = _Part(path, name)
            for part in self._parts.values():
                part.read_more(self.since_ns)
            parts = [p for p in self._parts.values() if p.linktype is not None]
            cap = Capture("live capture", [Interface(p.name, p.linktype or 1) for p in parts])
            rows = sorted((i, ts, data, orig) for i, p in enumerate(parts)
                          for ts, data, orig in p.packets)
        cap.packets = [Packet(n, ts, i, data, orig)
                       for n, (i, ts, data, orig) in enumerate(rows, 1)]
        return cap


class LiveLadder:
    """The fast and the tshark pass over a :class:`GrowingCapture`, and what the page shows
    of them together."""

    def __init__(self, capture: GrowingCapture, keylog: Path, names: Names | None,
                 expect: dict[int, dict[str, str]], topology: Topology | None = None) -> None:
        self.capture, self.keylog, self.names, self.expect = capture, keylog, names, expect
        self.topology = topology
        self.fast: Ladder | None = None
        self.decrypted: Ladder | None = None
        self._seen = {"fast": -1, "decrypted": -1}  # packets in the capture each pass read

    def _build(self, kind: str, decryptor: Decryptor | None) -> Ladder | None:
        cap = self.capture.snapshot()
        if not cap.packets or len(cap.packets) == self._seen[kind]:
            return getattr(self, kind)  # type: ignore[no-any-return]
        self._seen[kind] = len(cap.packets)
        try:
            cap.tls_keylog = self.keylog.read_bytes()
        except OSError:
            cap.tls_keylog = b""
        return build_ladder(cap, names=self.names, expect=self.expect, topology=self.topology,
                            decryptor=decryptor)

    def fast_pass(self) -> None:
        """The ladder so far, TLS 1.3 opened in-process (only when the capture grew)."""
        self.fast = self._build("fast", tls13.decrypt)

    @property
    def needs_tshark(self) -> bool:
        """Some TLS stream stays closed to the fast pass."""
        return self.fast is not None and self.fast.analysis.tls_opaque > 0

    def decrypted_pass(self) -> None:
        """The ladder so far decrypted by tshark (only when the capture grew)."""
        self.decrypted = self._build("decrypted", None)

    def view(self) -> dict[str, Any]:
        """Arrows (the tshark pass's, and the fast pass's newer ones) and steps (seen if
        either pass saw them)."""
        ladders = [x for x in (self.decrypted, self.fast) if x is not None]
        if not ladders:
            return {"arrows": [], "steps": [], "columns": []}
        arrows: dict[str, dict[str, Any]] = {}
        for ladder in ladders:
            for arrow in present.arrows(ladder):
                arrows.setdefault(str(arrow["id"]), arrow)
        steps = present.steps(ladders[0])
        for other in ladders[1:]:
            for i, step in enumerate(present.steps(other)):
                if step["seen"] and not steps[i]["seen"]:
                    steps[i] = step
        ordered = sorted(arrows.values(), key=lambda a: float(str(a["epoch"])))
        return {"arrows": ordered, "steps": steps, "columns": present.columns(ladders[0])}
