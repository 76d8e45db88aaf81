"""Reading a pcap or pcapng file as a stream: packets one at a time, in file order, in constant
memory, however large the file (a customer's capture of several gigabytes).

    stream = open_capture("big.pcapng", progress=lambda done, total: ...)
    for packet in stream:          # stream.interfaces grows as the file describes them
        ...
    stream.capture.truncated, stream.capture.tls_keylog, stream.capture.count

The blocks are decoded by :mod:`lab.capture.pcapfile`'s own code (same checks, same errors:
a file that is not a capture raises :class:`lab.base.errors.InputError` before the first
packet); only the reading differs.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from lab.base.errors import InputError
from lab.capture.pcapfile import (
    PCAP_MAGIC_NS,
    PCAP_MAGIC_US,
    PCAPNG_BOM,
    PCAPNG_SHB,
    Capture,
    Interface,
    Packet,
    _bad,
    _block,
    _Section,
)

Progress = Callable[[int, int], None]  # (bytes read, file size)
_CHUNK = 1 << 20


class CaptureStream:
    """An open capture: iterate it once for its packets."""

    def __init__(self, path: Path | str, progress: Progress | None = None) -> None:
        self.path = str(path)
        try:
            # closed when the iteration ends (or by close()): a stream outlives this call
            self._file: BinaryIO = Path(path).open("rb", buffering=_CHUNK)  # noqa: SIM115
            self.size = Path(path).stat().st_size
        except OSError as exc:
            raise InputError(f"cannot read the capture: {exc.strerror}", path=self.path,
                             fix="check the file name") from None
        self._progress = progress
        head = self._file.read(4)
        if len(head) < 4:
            raise _bad(self.path, f"file of {len(head)} bytes is too short to be a capture")
        self._head = head
        self.capture = Capture(self.path)
        self._kind, self._order, self._nano = self._detect(head)
        if self._kind == "pcap":
            self._pcap_header()
        else:
            self._first_section()

    @property
    def interfaces(self) -> list[Interface]:
        return self.capture.interfaces

    def _detect(self, head: bytes) -> tuple[str, str, bool]:
        if struct.unpack("<I", head)[0] == PCAPNG_SHB:
            return "pcapng", "<", False
        for order in ("<", ">"):
            magic = struct.unpack(order + "I", head)[0]
            if magic in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
                return "pcap", order, magic == PCAP_MAGIC_NS
        raise _bad(self.path, f"not a pcap or pcapng file (first bytes {head.hex(' ')})")

    def _pcap_header(self) -> None:
        rest = self._file.read(20)
        if len(rest) < 20:
            raise _bad(self.path, "pcap file header is cut short")
        network = struct.unpack_from(self._order + "I", rest, 16)[0] & 0x03FFFFFF
        self.capture.format = "pcap"
        self.capture.interfaces.append(Interface("capture", network))

    def _first_section(self) -> None:
        head = self._head + self._file.read(24)
        if len(head) < 28:
            raise _bad(self.path, f"pcapng file is damaged: its Section Header Block is cut "
                                  f"({len(head)} of at least 28 bytes)")
        self._pending = head

    def close(self) -> None:
        self._file.close()

    def __iter__(self) -> Iterator[Packet]:
        try:
            yield from self._pcap() if self._kind == "pcap" else self._pcapng()
        finally:
            self.close()
            self._report()

    def _report(self) -> None:
        if self._progress is not None:
            self._progress(self._file_pos(), self.size)

    def _file_pos(self) -> int:
        try:
            return self._file.tell()
        except ValueError:  # closed
            return self.size

    def _tick(self, count: int) -> None:
        if self._progress is not None and count % 4096 == 0:
            self._progress(self._file.tell(), self.size)

    def _pcap(self) -> Iterator[Packet]:
        rec = struct.Struct(self._order + "IIII")
        scale = 1 if self._nano else 1000
        cap, read = self.capture, self._file.read
        while True:
            header = read(16)
            if not header:
                return
            if len(header) < 16:
                cap.truncated = True
                return
            sec, frac, incl, orig = rec.unpack(header)
            data = read(incl)
            if len(data) < incl:
                cap.truncated = True
                return
            cap.count += 1
            self._tick(cap.count)
            yield Packet(cap.count, sec * 1_000_000_000 + frac * scale, 0, data, orig)

    def _pcapng(self) -> Iterator[Packet]:
        cap, read = self.capture, self._file.read
        section: _Section | None = None
        pos, head = 0, self._pending
        while True:
            if len(head) < 12:
                head += read(12 - len(head))
                if not head:
                    return
                if len(head) < 12:
                    cap.truncated = True
                    return
            if struct.unpack_from("<I", head)[0] == PCAPNG_SHB:
                section = self._section(head, pos, section)
            if section is None:
                raise _bad(self.path, "pcapng file does not start with a Section Header Block")
            btype, blen = struct.unpack_from(section.order + "II", head)
            if blen < 12 or blen % 4:
                raise _bad(self.path, f"pcapng block at byte {pos} has a bad length {blen}")
            block = head + read(blen - len(head))
            if len(block) < blen:
                if pos == 0:
                    raise _bad(self.path, f"pcapng file is damaged: its Section Header Block "
                                          f"is cut ({len(block)} of {blen} bytes)")
                cap.truncated = True
                return
            _block(cap, section, btype, block[8:blen - 4])
            if cap.packets:
                self._tick(cap.count)
                yield from cap.packets
                cap.packets.clear()
            pos += blen
            head = b""

    def _section(self, head: bytes, pos: int, section: _Section | None) -> _Section:
        bom = head[8:12]
        if bom not in (struct.pack("<I", PCAPNG_BOM), struct.pack(">I", PCAPNG_BOM)):
            raise _bad(self.path, f"pcapng section header at byte {pos} has a bad byte-order "
                                  "mark")
        order = "<" if bom == struct.pack("<I", PCAPNG_BOM) else ">"
        del section
        return _Section(order, len(self.capture.interfaces))


def open_capture(path: Path | str, progress: Progress | None = None) -> CaptureStream:
    """Open ``path`` for streaming; raises :class:`InputError` if it is not a capture."""
    return CaptureStream(path, progress)
