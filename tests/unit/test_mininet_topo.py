"""UclabTopo: a uclab topology file as Mininet's Topo (hosts, links, names, addresses), and
the checks of a host of one's own added on a segment."""

from __future__ import annotations

import sys

import pytest

from lab.base.errors import InputError, LabError
from lab.mn import UclabTopo
from lab.mn.network import LinkSpec, link_specs
from lab.runtime.mininet import import_mininet
from lab.topology import load


def test_link_specs_of_the_default_topology() -> None:
    specs = link_specs(load())
    assert LinkSpec("sfb-lan", "sfb-client", "eth0", "sfb-nat", "inside") in specs
    # a bridged segment: one link per end, to a port of the bridge node named after the end
    assert [s for s in specs if s.segment == "vc-internal"] == [
        LinkSpec("vc-internal", "expressway-e", "internal", "fw-inside", "expressway-e"),
        LinkSpec("vc-internal", "expressway-c", "eth0", "fw-inside", "expressway-c"),
        LinkSpec("vc-internal", "cms", "eth0", "fw-inside", "cms")]
    assert len(specs) == 7


def test_topo_has_a_host_per_node_and_the_documented_interfaces() -> None:
    topo = UclabTopo()
    assert sorted(topo.hosts()) == sorted(n.name for n in load().nodes)
    assert topo.switches() == []  # no OpenFlow: the firewalls are hosts with a Linux bridge
    links = {(a, b): info for a, b, info in topo.links(withInfo=True)}
    cms = links[("cms", "fw-inside")]
    assert cms["intfName1"] == "eth0" and cms["intfName2"] == "cms"
    assert cms["params1"] == {"ip": "10.48.54.230/24"}
    assert cms.get("params2", {}) == {}
    assert all(topo.nodeInfo(h).get("ip", "") is None for h in topo.hosts())


def test_a_host_of_ones_own_on_a_bridged_segment() -> None:
    topo = UclabTopo()
    topo.add_host_on("student", "internet", "192.168.1.50/24")
    assert "student" in topo.hosts()
    assert topo.extra_ports == {"internet": ["student"]}
    links = {(a, b): info for a, b, info in topo.links(withInfo=True)}
    info = links.get(("fw-outside", "student")) or links[("student", "fw-outside")]
    assert info["params1"] == {"ip": "192.168.1.50/24"}


@pytest.mark.parametrize(("name", "segment", "ip", "says"), [
    ("student", "sfb-lan", "192.168.251.9/24", "not a bridged segment"),
    ("student", "nowhere", "192.168.1.50/24", "not a bridged segment"),
    ("cms", "internet", "192.168.1.50/24", "is a node of topology"),
    ("student", "internet", "192.168.1.50", "not an address with a prefix length"),
    ("student", "internet", "10.0.0.1/8", "not in internet's subnet"),
    ("student", "internet", "no-address", "not an address"),
])
def test_a_bad_host_of_ones_own_is_refused(name: str, segment: str, ip: str,
                                           says: str) -> None:
    topo = UclabTopo()
    with pytest.raises(InputError, match=says) as err:
        topo.add_host_on(name, segment, ip)
    assert err.value.fix
    assert name not in topo.hosts() or name == "cms"


def test_without_mininet_the_error_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mininet.link", None)  # import mininet.link fails
    with pytest.raises(LabError, match=r"Mininet is not importable .*`\./setup`"):
        import_mininet()
