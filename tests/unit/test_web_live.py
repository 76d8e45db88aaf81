"""The live ladder from capture files that are still growing, and the pages' JSON of a ladder,
on a real capture (tests/data/ladder/seed-flow-tcp.pcapng, SIP over TCP: no tshark needed)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from lab.capture.pcapfile import PCAP_MAGIC_NS, Capture, read_capture
from lab.ladder import build_ladder
from lab.web import present
from lab.web.live import GrowingCapture, LiveLadder

SEED = Path(__file__).resolve().parent.parent / "data" / "ladder" / "seed-flow-tcp.pcapng"


def _pcap_parts(cap: Capture, folder: Path, until_ns: int | None = None) -> dict[str, bytes]:
    """Each interface of ``cap`` as the classic pcap tcpdump writes (node_iface.pcap), with
    the packets captured until ``until_ns``."""
    out: dict[str, bytes] = {}
    for i, iface in enumerate(cap.interfaces):
        node, _, name = iface.name.partition(":")
        data = bytearray(struct.pack("<IHHiIII", PCAP_MAGIC_NS, 2, 4, 0, 0, 262144,
                                     iface.linktype))
        for p in cap.packets:
            if p.iface == i and (until_ns is None or p.ts_ns <= until_ns):
                data += struct.pack("<IIII", p.ts_ns // 10**9, p.ts_ns % 10**9, len(p.data),
                                    p.orig_len) + p.data
        out[f"{node}_{name}.pcap"] = bytes(data)
    return out


@pytest.fixture(scope="module")
def seed() -> Capture:
    return read_capture(SEED)


def test_growing_files_are_read_incrementally(seed: Capture, tmp_path: Path) -> None:
    parts = _pcap_parts(seed, tmp_path)
    nodes = sorted({i.name.split(":")[0] for i in seed.interfaces})
    growing = GrowingCapture(tmp_path, nodes, since_ns=0)
    assert growing.snapshot().packets == []  # nothing written yet
    for name, data in parts.items():  # half of each file, cut inside a record
        (tmp_path / name).write_bytes(data[: len(data) // 2 + 7])
    half = len(growing.snapshot().packets)
    assert 0 < half < len(seed.packets)
    for name, data in parts.items():
        (tmp_path / name).write_bytes(data)
    whole = growing.snapshot()
    assert len(whole.packets) == len(seed.packets)
    assert sorted(i.name for i in whole.interfaces) == sorted(i.name for i in seed.interfaces)
    assert sorted(p.data for p in whole.packets) == sorted(p.data for p in seed.packets)
    # the live capture makes the same ladder as the merged file
    live, merged = build_ladder(whole), build_ladder(seed)
    assert [s.status for s in live.steps] == [s.status for s in merged.steps]
    assert live.verdict.passed and merged.verdict.passed
    # a previous run's packets (older than since_ns) are left out
    later = GrowingCapture(tmp_path, nodes, since_ns=max(p.ts_ns for p in seed.packets) + 1)
    assert later.snapshot().packets == []


def test_live_view_keeps_arrow_identities_as_the_capture_grows(seed: Capture,
                                                                tmp_path: Path) -> None:
    parts = _pcap_parts(seed, tmp_path)
    times = sorted(p.ts_ns for p in seed.packets)
    nodes = sorted({i.name.split(":")[0] for i in seed.interfaces})
    for name, data in _pcap_parts(seed, tmp_path, times[len(times) // 3]).items():
        (tmp_path / name).write_bytes(data)  # every interface up to one moment, as live
    live = LiveLadder(GrowingCapture(tmp_path, nodes, 0), tmp_path / "no-keylog", None, {})
    live.fast_pass()
    first = {str(a["id"]): a for a in live.view()["arrows"]}
    for name, data in parts.items():
        (tmp_path / name).write_bytes(data)
    live.fast_pass()
    live.decrypted_pass()  # no key log: nothing to decrypt, the fast pass stands
    view = live.view()
    later = {str(a["id"]): a for a in view["arrows"]}
    assert first and set(first) <= set(later)
    assert len(later) > len(first)
    steps = view["steps"]
    assert isinstance(steps, list) and len(steps) == 33
    assert all(s["seen"] for s in steps)


def test_present_opens_every_message(seed: Capture) -> None:
    ladder = build_ladder(seed)
    arrows = present.arrows(ladder)
    by_step = {a["step"]: a for a in arrows if a["step"] is not None}
    step18 = by_step[18]["detail"]
    assert ["XOR-PEER-ADDRESS", "192.168.1.252:53577"] in step18["stun"]["attributes"]
    assert step18["five_tuple"].startswith("TCP ")
    assert step18["iface"]
    invite = by_step[1]["detail"]["sip"]
    assert invite.startswith("INVITE sip:") and "Call-ID:" in invite
    assert "m=applicationsharing" in invite
    assert by_step[17]["src"] == "192.168.1.252:53577"
    check = next(a for a in arrows if a["group"] == "ICE")
    assert check["detail"]["framing"] == "RFC 4571"
    assert check["detail"]["head"].startswith("00 ")
    steps = present.steps(ladder)
    assert [s["number"] for s in steps] == list(range(1, 34))
    assert steps[17]["rfc"] == "RFC 6062 §4.4" and steps[17]["what"]
    media = present.media_series(ladder)
    assert media and all(sum(p["pps"] for p in m["series"]) > 0 for m in media)
    for m in media:
        width = m["series"][1]["t"] - m["series"][0]["t"] if len(m["series"]) > 1 else 0
        if width:
            assert round(sum(p["pps"] * width for p in m["series"])) == m["packets"]
