"""pcap/pcapng reading and pcapng writing: interface names, nanosecond times, the TLS secrets
block, both byte orders, truncated files, and clear errors for files that are not captures."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.base.errors import InputError
from lab.capture import PcapngWriter, parse_capture, read_capture
from lab.capture.pcapfile import BLOCK_DSB, SECRETS_TLS_KEYLOG

DATA = Path(__file__).resolve().parent.parent / "data" / "ladder"
FLOW = DATA / "seed-flow-tcp.pcapng"


def _frames() -> list[bytes]:
    return [p.data for p in read_capture(FLOW).packets[:5]]


def _pcap(order: str, magic: int, packets: list[tuple[int, int, bytes]], linktype: int = 1
          ) -> bytes:
    out = struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)
    for sec, frac, data in packets:
        out += struct.pack(order + "IIII", sec, frac, len(data), len(data)) + data
    return out


def test_the_lab_capture_reads_with_names_and_times() -> None:
    cap = read_capture(FLOW)
    names = [i.name for i in cap.interfaces]
    assert "cms:eth0" in names and "fw-inside:p2" in names and len(names) == 13
    for index in range(len(names)):  # interface by interface, each in time order
        times = [p.ts_ns for p in cap.packets if p.iface == index]
        assert times == sorted(times)
    assert [p.iface for p in cap.packets] == sorted(p.iface for p in cap.packets)
    assert len(cap.packets) > 1000
    assert [p.number for p in cap.packets[:3]] == [1, 2, 3]
    assert not cap.truncated and cap.format == "pcapng"


def test_writer_round_trip_with_secrets() -> None:
    frames = _frames()
    out = io.BytesIO()
    w = PcapngWriter(out)
    a = w.add_interface("cms:eth0", description="namespace t-cms")
    b = w.add_interface("expe:inside")
    w.add_tls_keylog(b"CLIENT_RANDOM aa bb\n")
    w.write_packet(a, 1_700_000_000_123_456_789, frames[0])
    w.write_packet(b, 1_700_000_000_123_456_790, frames[1], orig_len=len(frames[1]) + 10)
    cap = parse_capture(out.getvalue())
    assert [i.name for i in cap.interfaces] == ["cms:eth0", "expe:inside"]
    assert cap.interfaces[0].description == "namespace t-cms"
    assert [p.ts_ns for p in cap.packets] == [1_700_000_000_123_456_789, 1_700_000_000_123_456_790]
    assert [p.iface for p in cap.packets] == [0, 1]
    assert cap.packets[0].data == frames[0]
    assert cap.packets[1].orig_len == len(frames[1]) + 10
    assert cap.tls_keylog == b"CLIENT_RANDOM aa bb\n"
    raw = out.getvalue()
    assert struct.pack("<II", BLOCK_DSB, 12 + 8 + 20) in raw  # DSB, padded to 32 bits
    assert struct.pack("<I", SECRETS_TLS_KEYLOG) in raw


def test_writer_refuses_an_unknown_interface() -> None:
    w = PcapngWriter(io.BytesIO())
    with pytest.raises(ValueError, match="interface 0 was not added"):
        w.write_packet(0, 0, b"x")


@pytest.mark.parametrize(("order", "magic", "scale"), [
    ("<", 0xA1B2C3D4, 1000), (">", 0xA1B2C3D4, 1000), ("<", 0xA1B23C4D, 1), (">", 0xA1B23C4D, 1)])
def test_classic_pcap_both_orders_and_resolutions(order: str, magic: int, scale: int) -> None:
    frames = _frames()
    raw = _pcap(order, magic, [(10, 5, frames[0]), (11, 7, frames[1])])
    cap = parse_capture(raw, "x.pcap")
    assert cap.format == "pcap" and cap.interfaces[0].linktype == 1
    assert [p.ts_ns for p in cap.packets] == [10_000_000_000 + 5 * scale,
                                              11_000_000_000 + 7 * scale]
    assert [p.data for p in cap.packets] == frames[:2]


def test_a_cut_file_keeps_its_whole_packets() -> None:
    frames = _frames()
    raw = _pcap("<", 0xA1B2C3D4, [(1, 0, frames[0]), (2, 0, frames[1])])
    cap = parse_capture(raw[:-5], "cut.pcap")
    assert cap.truncated and len(cap.packets) == 1
    flow = FLOW.read_bytes()
    cut = parse_capture(flow[: len(flow) // 2], "cut.pcapng")
    assert cut.truncated and 0 < len(cut.packets) < len(read_capture(FLOW).packets)


def test_big_endian_pcapng_and_microsecond_default() -> None:
    frame = _frames()[0]
    shb = struct.pack(">IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + struct.pack(">I", 28)
    idb_body = struct.pack(">HHI", 1, 0, 0)
    idb = struct.pack(">II", 1, 20) + idb_body + struct.pack(">I", 20)
    pad = b"\0" * (-len(frame) % 4)
    epb_len = 32 + len(frame) + len(pad)
    epb = (struct.pack(">IIIIIII", 6, epb_len, 0, 0, 1_500_000, len(frame), len(frame))
           + frame + pad + struct.pack(">I", epb_len))
    cap = parse_capture(shb + idb + epb)
    assert cap.packets[0].ts_ns == 1_500_000_000  # microseconds by default
    assert cap.packets[0].data == frame and cap.interfaces[0].name == "if0"


@pytest.mark.parametrize(("data", "message"), [
    (b"hello world, not a capture", "not a pcap or pcapng file (first bytes 68 65 6c 6c)"),
    (b"ab", "too short to be a capture"),
])
def test_not_a_capture_names_the_file_and_the_fix(data: bytes, message: str) -> None:
    with pytest.raises(InputError) as err:
        parse_capture(data, "notes.txt")
    text = str(err.value)
    assert text.startswith("notes.txt: ") and message in text and "fix: give a capture" in text


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read the capture"):
        read_capture(tmp_path / "none.pcapng")


@given(st.one_of(
    st.binary(max_size=300),
    st.binary(max_size=300).map(lambda b: bytes.fromhex("0a0d0d0a") + b),  # pcapng SHB type
    st.binary(max_size=300).map(lambda b: bytes.fromhex("d4c3b2a1") + b),  # pcap, LE micro
    st.tuples(st.integers(0, 200), st.binary(max_size=8)).map(  # a real capture, cut + junk
        lambda t: FLOW.read_bytes()[:t[0] * 7] + t[1])))
@settings(max_examples=300, deadline=None)
def test_garbage_is_an_input_error_or_a_truncated_capture(data: bytes) -> None:
    """A file that is not a capture is refused with InputError (file, reason, fix), never with
    another exception; a cut capture is read up to the cut."""
    try:
        cap = parse_capture(data, "junk.bin")
    except InputError as exc:
        assert str(exc).startswith("junk.bin: ")
        return
    assert all(isinstance(p.data, bytes) for p in cap.packets)
