"""Reading pcap and pcapng files, writing pcapng: pure Python, no libpcap.

* :func:`read_capture` reads a classic pcap (microsecond or nanosecond, either byte order) or a
  pcapng file (draft-ietf-opsawg-pcapng: Section Header, Interface Description, Enhanced, Simple
  and obsolete Packet Blocks, Decryption Secrets Blocks) into a :class:`Capture`: interfaces with
  their names, packets with nanosecond timestamps, and any TLS key log embedded in the file.
* :class:`PcapngWriter` writes one section: interfaces named ``node:iface`` with nanosecond
  resolution, an optional Decryption Secrets Block (TLS key log, pcapng §4.7, secrets type
  ``TLSK``) and Enhanced Packet Blocks.

A file cut short (a capture killed mid-write, a customer's truncated upload) is read up to its
last whole packet and flagged ``truncated``; a file that is not a capture at all raises
:class:`lab.base.errors.InputError` naming the file and the fix.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from lab.base.errors import InputError

PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_BOM = 0x1A2B3C4D
BLOCK_IDB = 0x00000001
BLOCK_PB = 0x00000002
BLOCK_SPB = 0x00000003
BLOCK_EPB = 0x00000006
BLOCK_DSB = 0x0000000A
SECRETS_TLS_KEYLOG = 0x544C534B  # "TLSK", pcapng §4.7
OPT_ENDOFOPT = 0
OPT_COMMENT = 1
OPT_IF_NAME = 2
OPT_IF_DESCRIPTION = 3
OPT_IF_TSRESOL = 9
OPT_IF_TSOFFSET = 14
OPT_SHB_USERAPPL = 4

LINKTYPE_ETHERNET = 1

_FIX = "give a capture written by tcpdump, dumpcap, Wireshark or `uclab run --pcap`"


@dataclass(frozen=True, slots=True)
class Interface:
    """One capture interface: its name (``node:iface`` in the lab's merged files) and link type."""

    name: str
    linktype: int
    description: str = ""


@dataclass(frozen=True, slots=True)
class Packet:
    """One captured frame. ``number`` is 1-based, as Wireshark shows it."""

    number: int
    ts_ns: int
    iface: int
    data: bytes
    orig_len: int


@dataclass
class Capture:
    """What a capture file holds."""

    path: str
    interfaces: list[Interface] = field(default_factory=list)
    packets: list[Packet] = field(default_factory=list)
    tls_keylog: bytes = b""
    truncated: bool = False
    format: str = "pcapng"
    count: int = 0  # packets read (``packets`` may be drained by a stream, see stream.py)
    last_ns: int = 0  # the last packet's time (a Simple Packet Block has none)


def _bad(path: str, message: str) -> InputError:
    return InputError(message, path=path, fix=_FIX)


def read_capture(path: Path | str) -> Capture:
    """Read ``path`` (pcap or pcapng). Raises :class:`InputError` if it is not a capture."""
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the capture: {exc.strerror}", path=name,
                         fix="check the file name") from None
    return parse_capture(data, name)


def parse_capture(data: bytes, name: str = "<bytes>") -> Capture:
    """Parse capture bytes; ``name`` is used in error messages."""
    if len(data) < 4:
        raise _bad(name, f"file of {len(data)} bytes is too short to be a capture")
    magic_le = struct.unpack_from("<I", data)[0]
    magic_be = struct.unpack_from(">I", data)[0]
    if magic_le == PCAPNG_SHB:
        return _read_pcapng(data, name)
    for order in ("<", ">"):
        magic = magic_le if order == "<" else magic_be
        if magic in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
            return _read_pcap(data, name, order, nano=magic == PCAP_MAGIC_NS)
    raise _bad(name, f"not a pcap or pcapng file (first bytes {data[:4].hex(' ')})")


# --- classic pcap -------------------------------------------------------------------------


def _read_pcap(data: bytes, name: str, order: str, *, nano: bool) -> Capture:
    if len(data) < 24:
        raise _bad(name, "pcap file header is cut short")
    network = struct.unpack_from(order + "I", data, 20)[0] & 0x03FFFFFF
    cap = Capture(name, [Interface("capture", network)], format="pcap")
    rec = struct.Struct(order + "IIII")
    scale = 1 if nano else 1000
    pos, number = 24, 0
    while pos < len(data):
        if pos + 16 > len(data):
            cap.truncated = True
            break
        sec, frac, incl, orig = rec.unpack_from(data, pos)
        end = pos + 16 + incl
        if end > len(data):
            cap.truncated = True
            break
        number += 1
        cap.packets.append(Packet(number, sec * 1_000_000_000 + frac * scale, 0,
                                  data[pos + 16:end], orig))
        pos = end
    cap.count = number
    return cap


# --- pcapng -------------------------------------------------------------------------------


@dataclass
class _Section:
    order: str
    base: int  # index of this section's first interface in Capture.interfaces
    resolutions: list[tuple[int, int]] = field(default_factory=list)  # (units per s, offset s)


def _options(body: bytes, order: str) -> Iterator[tuple[int, bytes]]:
    pos = 0
    while pos + 4 <= len(body):
        code, length = struct.unpack_from(order + "HH", body, pos)
        if code == OPT_ENDOFOPT:
            return
        yield code, body[pos + 4:pos + 4 + length]
        pos += 4 + length + (-length % 4)


def _tsresol(raw: bytes) -> int:
    value = raw[0] if raw else 6
    return int(2 ** (value & 0x7F) if value & 0x80 else 10**value)


def _read_pcapng(data: bytes, name: str) -> Capture:
    cap = Capture(name)
    section: _Section | None = None
    pos = 0
    if len(data) < 28:  # the smallest Section Header Block (pcapng §4.1)
        raise _bad(name, f"pcapng file is damaged: its Section Header Block is cut "
                         f"({len(data)} of at least 28 bytes)")
    while pos < len(data):
        if pos + 12 > len(data):
            cap.truncated = True
            break
        btype = struct.unpack_from("<I", data, pos)[0]
        if btype == PCAPNG_SHB:
            bom = data[pos + 8:pos + 12]
            order = "<" if bom == struct.pack("<I", PCAPNG_BOM) else ">"
            if bom not in (struct.pack("<I", PCAPNG_BOM), struct.pack(">I", PCAPNG_BOM)):
                raise _bad(name, f"pcapng section header at byte {pos} has a bad byte-order mark")
            section = _Section(order, len(cap.interfaces))
        if section is None:
            raise _bad(name, "pcapng file does not start with a Section Header Block")
        btype, blen = struct.unpack_from(section.order + "II", data, pos)
        if blen < 12 or blen % 4:
            raise _bad(name, f"pcapng block at byte {pos} has a bad length {blen}")
        if pos + blen > len(data):
            if pos == 0:
                raise _bad(name, f"pcapng file is damaged: its Section Header Block is cut "
                                 f"({len(data)} of {blen} bytes)")
            cap.truncated = True
            break
        _block(cap, section, btype, data[pos + 8:pos + blen - 4])
        pos += blen
    return cap


def _block(cap: Capture, section: _Section, btype: int, body: bytes) -> None:
    o = section.order
    if btype == BLOCK_IDB and len(body) >= 8:
        linktype = struct.unpack_from(o + "H", body)[0]
        if_name, desc, units, offset = "", "", 1_000_000, 0
        for code, value in _options(body[8:], o):
            if code == OPT_IF_NAME:
                if_name = value.decode("utf-8", "replace")
            elif code == OPT_IF_DESCRIPTION:
                desc = value.decode("utf-8", "replace")
            elif code == OPT_IF_TSRESOL:
                units = _tsresol(value)
            elif code == OPT_IF_TSOFFSET and len(value) == 8:
                offset = struct.unpack(o + "q", value)[0]
        index = len(cap.interfaces)
        cap.interfaces.append(Interface(if_name or f"if{index}", linktype, desc))
        section.resolutions.append((units, offset))
    elif btype == BLOCK_EPB and len(body) >= 20:
        iface, hi, lo, caplen, orig = struct.unpack_from(o + "IIIII", body)
        _packet(cap, section, iface, (hi << 32) | lo, data=body[20:20 + caplen], orig=orig)
    elif btype == BLOCK_PB and len(body) >= 20:
        iface, _drops, hi, lo, caplen, orig = struct.unpack_from(o + "HHIIII", body)
        _packet(cap, section, iface, (hi << 32) | lo, data=body[20:20 + caplen], orig=orig)
    elif btype == BLOCK_SPB and len(body) >= 4:
        orig = struct.unpack_from(o + "I", body)[0]
        _packet(cap, section, 0, None, data=body[4:4 + orig], orig=orig)
    elif btype == BLOCK_DSB and len(body) >= 8:
        stype, slen = struct.unpack_from(o + "II", body)
        if stype == SECRETS_TLS_KEYLOG:
            secrets = body[8:8 + slen]
            cap.tls_keylog += secrets if secrets.endswith(b"\n") else secrets + b"\n"


def _packet(cap: Capture, section: _Section, iface: int, ticks: int | None, *, data: bytes,
            orig: int) -> None:
    if iface >= len(section.resolutions):
        return  # a packet of an interface never described: unusable, skipped
    if ticks is None:  # Simple Packet Block: no timestamp, keep file order
        ts_ns = cap.last_ns
    else:
        units, offset = section.resolutions[iface]
        ts_ns = ticks * 1_000_000_000 // units + offset * 1_000_000_000
    cap.count += 1
    cap.last_ns = ts_ns
    cap.packets.append(Packet(cap.count, ts_ns, section.base + iface, data, orig))


# --- writing ------------------------------------------------------------------------------


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def _block_bytes(btype: int, body: bytes) -> bytes:
    total = 12 + len(body)
    return struct.pack("<II", btype, total) + body + struct.pack("<I", total)


class PcapngWriter:
    """Writes one little-endian pcapng section to a binary stream.

    Interfaces must all be added before the first packet; the TLS key log (if any) is written as
    a Decryption Secrets Block right after them, before any packet that needs it (pcapng §4.7).
    """

    def __init__(self, stream: BinaryIO, application: str = "uclab") -> None:
        self._out = stream
        self._interfaces = 0
        opts = _option(OPT_SHB_USERAPPL, application.encode()) + _option(OPT_ENDOFOPT, b"")
        body = struct.pack("<IHHq", PCAPNG_BOM, 1, 0, -1) + opts
        self._out.write(_block_bytes(PCAPNG_SHB, body))

    def add_interface(self, name: str, linktype: int = LINKTYPE_ETHERNET, snaplen: int = 0,
                      description: str = "") -> int:
        """Describe an interface (nanosecond timestamps); returns its id for packets."""
        opts = _option(OPT_IF_NAME, name.encode())
        if description:
            opts += _option(OPT_IF_DESCRIPTION, description.encode())
        opts += _option(OPT_IF_TSRESOL, bytes([9])) + _option(OPT_ENDOFOPT, b"")
        self._out.write(_block_bytes(BLOCK_IDB, struct.pack("<HHI", linktype, 0, snaplen) + opts))
        self._interfaces += 1
        return self._interfaces - 1

    def add_tls_keylog(self, keylog: bytes) -> None:
        """Embed an NSS key log (``CLIENT_RANDOM ...`` lines) as a Decryption Secrets Block."""
        if not keylog:
            return
        body = struct.pack("<II", SECRETS_TLS_KEYLOG, len(keylog)) + keylog
        body += b"\0" * (-len(keylog) % 4)
        self._out.write(_block_bytes(BLOCK_DSB, body))

    def write_packet(self, iface: int, ts_ns: int, data: bytes,
                     orig_len: int | None = None) -> None:
        """One Enhanced Packet Block."""
        if not 0 <= iface < self._interfaces:
            raise ValueError(f"interface {iface} was not added")
        orig = len(data) if orig_len is None else orig_len
        head = struct.pack("<IIIII", iface, (ts_ns >> 32) & 0xFFFFFFFF, ts_ns & 0xFFFFFFFF,
                           len(data), orig)
        self._out.write(_block_bytes(BLOCK_EPB, head + data + b"\0" * (-len(data) % 4)))
