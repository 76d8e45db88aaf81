"""Merging per-interface captures: one pcapng, interfaces named ``node:iface``, packets grouped
by interface in time order (or all in one time order on request, even when a part is not), the
TLS key log embedded."""

from __future__ import annotations

import struct
from pathlib import Path

from lab.capture import Packet, Part, merge_parts, read_capture

FLOW = Path(__file__).resolve().parent.parent / "data" / "ladder" / "seed-flow-tcp.pcapng"


def _write_pcap(path: Path, packets: list[Packet]) -> None:
    out = struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144, 1)  # nanosecond pcap
    for p in packets:
        sec, nsec = divmod(p.ts_ns, 1_000_000_000)
        out += struct.pack("<IIII", sec, nsec, len(p.data), p.orig_len) + p.data
    path.write_bytes(out)


def _split(tmp_path: Path, names: list[str]) -> list[Part]:
    cap = read_capture(FLOW)
    parts = []
    for name in names:
        index = [i.name for i in cap.interfaces].index(name)
        path = tmp_path / (name.replace(":", "_") + ".pcap")
        _write_pcap(path, [p for p in cap.packets if p.iface == index])
        parts.append(Part(name, path, f"from {name}"))
    return parts


def test_merge_names_orders_and_embeds(tmp_path: Path) -> None:
    parts = _split(tmp_path, ["cms:eth0", "expe:inside", "edge:outside"])
    result = merge_parts(parts, tmp_path / "out" / "merged.pcapng", b"CLIENT_RANDOM 00 11\n")
    merged = read_capture(result.path)
    assert [i.name for i in merged.interfaces] == ["cms:eth0", "expe:inside", "edge:outside"]
    assert merged.interfaces[0].description == "from cms:eth0"
    assert merged.tls_keylog == b"CLIENT_RANDOM 00 11\n"
    assert [p.iface for p in merged.packets] == sorted(p.iface for p in merged.packets)
    for index in range(3):
        times = [p.ts_ns for p in merged.packets if p.iface == index]
        assert times == sorted(times)
    original = read_capture(FLOW)
    wanted = {i.name for i in original.interfaces} & {p.name for p in parts}
    count = sum(1 for p in original.packets if original.interfaces[p.iface].name in wanted)
    assert result.packets == len(merged.packets) == count and result.interfaces == 3
    assert not (tmp_path / "out" / "merged.pcapng.part").exists()


def test_a_part_out_of_time_order_still_merges_in_order(tmp_path: Path) -> None:
    cap = read_capture(FLOW)
    packets = cap.packets[:20]
    swapped = [packets[1], packets[0], *packets[2:]]  # as two CPUs may stamp them
    _write_pcap(tmp_path / "a.pcap", swapped)
    result = merge_parts([Part("a:eth0", tmp_path / "a.pcap")], tmp_path / "m.pcapng")
    times = [p.ts_ns for p in read_capture(result.path).packets]
    assert times == sorted(times) and len(times) == 20


def test_one_time_order_on_request(tmp_path: Path) -> None:
    parts = _split(tmp_path, ["cms:eth0", "expe:inside"])
    result = merge_parts(parts, tmp_path / "t.pcapng", order="time")
    packets = read_capture(result.path).packets
    times = [p.ts_ns for p in packets]
    assert times == sorted(times) and {p.iface for p in packets} == {0, 1}
    assert [p.iface for p in packets] != sorted(p.iface for p in packets)


def test_an_empty_part_keeps_its_interface(tmp_path: Path) -> None:
    _write_pcap(tmp_path / "idle.pcap", [])
    parts = [*_split(tmp_path, ["cms:eth0"]), Part("expc:eth0", tmp_path / "idle.pcap")]
    merged = read_capture(merge_parts(parts, tmp_path / "m.pcapng").path)
    assert [i.name for i in merged.interfaces] == ["cms:eth0", "expc:eth0"]
    assert all(p.iface == 0 for p in merged.packets)


def test_a_cut_part_is_reported(tmp_path: Path) -> None:
    [part] = _split(tmp_path, ["cms:eth0"])
    part.path.write_bytes(part.path.read_bytes()[:-3])
    result = merge_parts([part], tmp_path / "m.pcapng")
    assert result.truncated == ("cms:eth0",)
