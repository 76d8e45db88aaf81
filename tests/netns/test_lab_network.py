"""The default topology, built for real, checked with real sockets (docs/lab.md)."""

from __future__ import annotations

import errno
import json
import socket
import subprocess
from collections.abc import Iterator
from ipaddress import IPv4Interface, IPv4Network
from pathlib import Path

import pytest

from lab import topology
from lab.kernel.setns import run_in_netns
from lab.lifecycle.context import BuildContext
from tests.labhelp import accepted_peer, connect, counters, listen, running_lab

LAB_NETS = [s.subnet for s in topology.load().segments]


def _root_view() -> tuple[str, str, str]:
    def ip(*args: str) -> str:
        return subprocess.run(["ip", "-j", *args], capture_output=True, text=True,
                              check=True).stdout

    return ip("link"), ip("addr"), ip("route", "show", "table", "all")


@pytest.fixture(scope="module")
def root_before() -> tuple[str, str, str]:
    return _root_view()


@pytest.fixture(scope="module")
def lab(root_before: tuple[str, str, str]) -> Iterator[BuildContext]:
    with running_lab() as ctx:
        yield ctx


def test_client_reaches_the_edge_internal_address(lab: BuildContext) -> None:
    with listen(lab, "sfb-edge", "10.149.4.10", 443) as srv:
        connect(lab, "sfb-client", ("10.149.4.10", 443))
        host, _ = accepted_peer(srv)
    assert host == "10.149.4.201"  # behind the NAT


def test_edge_sees_both_turn_connections_from_17676_as_65417(lab: BuildContext) -> None:
    with listen(lab, "sfb-edge", "10.149.4.10", 443) as s443, \
            listen(lab, "sfb-edge", "10.149.4.10", 3478) as s3478:
        src = ("192.168.251.128", 17676)
        assert connect(lab, "sfb-client", ("10.149.4.10", 443), src=src) == src
        first = accepted_peer(s443)
        connect(lab, "sfb-client", ("10.149.4.10", 3478), src=src)
        second = accepted_peer(s3478)
    assert first == second == ("10.149.4.201", 65417)
    # any other client port keeps its own number (plain SNAT)
    with listen(lab, "sfb-edge", "10.149.4.10", 443) as srv:
        connect(lab, "sfb-client", ("10.149.4.10", 443), src=("192.168.251.128", 13450))
        assert accepted_peer(srv) == ("10.149.4.201", 13450)


def test_no_route_edge_to_video_lan_nor_client_to_internet(lab: BuildContext) -> None:
    with pytest.raises(OSError) as edge:
        connect(lab, "sfb-edge", ("10.48.54.230", 5061))
    assert edge.value.errno == errno.ENETUNREACH  # the Edge has no route at all
    with pytest.raises(OSError) as client:
        connect(lab, "sfb-client", ("192.168.1.229", 5061))
    # the client's default route ends at the NAT, which has no route: ICMP net unreachable
    assert client.value.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH)


def test_cms_reaches_expressway_e_turn_through_fw_inside(lab: BuildContext) -> None:
    before = counters(lab, "fw-inside")
    with listen(lab, "expressway-e", "10.48.54.229", 3478) as srv:
        connect(lab, "cms", ("10.48.54.229", 3478), src=("10.48.54.230", 33347))
        connect(lab, "cms", ("10.48.54.229", 3478), src=("10.48.54.230", 33348))
        assert accepted_peer(srv) == ("10.48.54.230", 33347)
        assert accepted_peer(srv) == ("10.48.54.230", 33348)
    after = counters(lab, "fw-inside")
    f5 = next(k for k in after if k.startswith("F5 "))
    assert after[f5] - before[f5] == 2  # two new connections, the rest are replies/established


def test_edge_reaches_the_expressway_relay_through_fw_outside(lab: BuildContext) -> None:
    before = counters(lab, "fw-outside")
    with listen(lab, "expressway-e", "192.168.1.229", 24000) as srv:
        connect(lab, "sfb-edge", ("192.168.1.229", 24000), src=("192.168.1.252", 53577))
        assert accepted_peer(srv) == ("192.168.1.252", 53577)
    after = counters(lab, "fw-outside")
    f6 = next(k for k in after if k.startswith("F6 "))
    assert after[f6] - before[f6] == 1


def test_a_flow_not_in_ports_md_is_dropped_and_counted(lab: BuildContext) -> None:
    before = counters(lab, "fw-outside")["everything else"]
    # TURN on Expressway-E's external address is not a required flow
    with listen(lab, "expressway-e", "192.168.1.229", 3478), pytest.raises(TimeoutError):
        connect(lab, "sfb-edge", ("192.168.1.229", 3478), timeout=1.0)
    assert counters(lab, "fw-outside")["everything else"] > before
    # traversal opened in the wrong direction (DMZ -> inside) is dropped too
    before = counters(lab, "fw-inside")["everything else"]
    with listen(lab, "expressway-c", "10.48.54.227", 7001), pytest.raises(TimeoutError):
        connect(lab, "expressway-e", ("10.48.54.227", 7001), src=("10.48.54.229", 25000),
                timeout=1.0)
    assert counters(lab, "fw-inside")["everything else"] > before


def test_root_namespace_gets_nothing_of_the_lab(lab: BuildContext,
                                               root_before: tuple[str, str, str]) -> None:
    links, addrs, routes = _root_view()
    assert (links, addrs, routes) == root_before
    for entry in json.loads(addrs):
        for a in entry.get("addr_info", []):
            if a["family"] == "inet":
                net = IPv4Interface(f"{a['local']}/{a['prefixlen']}").network
                assert not any(net.overlaps(n) for n in LAB_NETS), a
    for r in json.loads(routes):
        if r.get("dst", "default") not in ("default",) and "." in r.get("dst", ""):
            dst = IPv4Network(r["dst"] if "/" in r["dst"] else f"{r['dst']}/32")
            assert not any(dst.overlaps(n) for n in LAB_NETS), r


def test_no_lab_namespace_has_a_path_out(lab: BuildContext) -> None:
    namespaces = set(lab.topology.namespaces(lab.lab).values())
    pairs = 0
    for ns in sorted(namespaces):
        links = json.loads(subprocess.run(["ip", "-n", ns, "-j", "-d", "link"],
                                          capture_output=True, text=True, check=True).stdout)
        ids = subprocess.run(["ip", "-n", ns, "netns", "list-id"], capture_output=True,
                             text=True, check=True).stdout
        peers = {int(line.split()[1]): line.split("name: ")[-1].rstrip(")")
                 for line in ids.splitlines() if "name:" in line}
        for link in links:
            kind = link.get("linkinfo", {}).get("info_kind", "loopback")
            assert kind in ("loopback", "veth", "bridge"), (ns, link["ifname"], kind)
            if kind == "veth":
                pairs += 1
                assert peers.get(link["link_netnsid"]) in namespaces, (ns, link["ifname"])
        default = subprocess.run(["ip", "-n", ns, "route", "show", "default"],
                                 capture_output=True, text=True, check=True).stdout
        assert bool(default) == ns.endswith("-sfb-client"), (ns, default)
        forwarding = run_in_netns(ns, lambda: Path("/proc/sys/net/ipv4/ip_forward").read_text())
        forwarding = forwarding.strip()
        assert forwarding == ("1" if ns.endswith("-sfb-nat") else "0"), ns
    assert pairs == 2 * 7  # sfb-lan, sfb-internal, 2 ports on internet, 3 on vc-internal


def test_udp_to_the_turn_port_is_dropped_too(lab: BuildContext) -> None:
    """3478 is allowed for TCP only (ports.md F5): the pre-X8.9 UDP habit does not pass."""
    before = counters(lab, "fw-inside")["everything else"]

    def send() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"x", ("10.48.54.229", 3478))

    run_in_netns(lab.ns("cms"), send)
    assert counters(lab, "fw-inside")["everything else"] == before + 1
