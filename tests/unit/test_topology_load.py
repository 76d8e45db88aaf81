"""The default topology loads as flow.md §1 says; every kind of mistake names file, line, fix."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path

import pytest

from lab import topology
from lab.base import datafile
from lab.base.errors import InputError
from lab.topology import roles
from lab.topology.values import HostPort, PortRange

DEFAULT = topology.TOPOLOGY_DIR / "sfb-cms-expressway.yaml"
TEXT = DEFAULT.read_text()


def load_text(text: str, tmp_path: Path) -> topology.Topology:
    """Load ``text`` as a topology file next to copies of the baseline policies."""
    (tmp_path / "policies").mkdir(exist_ok=True)
    for p in (topology.TOPOLOGY_DIR / "policies").glob("*.nft"):
        (tmp_path / "policies" / p.name).write_text(p.read_text())
    path = tmp_path / "t.yaml"
    path.write_text(text)
    return topology.load(path)


def edit(old: str, new: str, text: str = TEXT) -> str:
    assert text.count(old) == 1, f"{old!r} must occur once in the default topology"
    return text.replace(old, new)


def line_of(text: str, needle: str) -> int:
    for n, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return n
    raise AssertionError(needle)


def error_of(text: str, tmp_path: Path) -> InputError:
    with pytest.raises(InputError) as info:
        load_text(text, tmp_path)
    err = info.value
    assert err.path == tmp_path / "t.yaml"
    return err


def test_default_topology_matches_flow_md() -> None:
    topo = topology.load()
    assert topo.path == DEFAULT
    addrs = {(n.name, i.name): str(i.address) for n in topo.nodes for i in n.interfaces
             if i.address is not None}
    assert addrs == {
        ("sfb-client", "eth0"): "192.168.251.128/24",
        ("sfb-nat", "inside"): "192.168.251.1/24",
        ("sfb-nat", "outside"): "10.149.4.201/24",
        ("sfb-edge", "internal"): "10.149.4.10/24",
        ("sfb-edge", "external"): "192.168.1.252/24",
        ("expressway-e", "external"): "192.168.1.229/24",
        ("expressway-e", "internal"): "10.48.54.229/24",
        ("expressway-c", "eth0"): "10.48.54.227/24",
        ("cms", "eth0"): "10.48.54.230/24",
    }
    # no default route except the client's; forwarding only on the NAT
    assert [(n.name, str(r)) for n in topo.nodes for r in n.routes] == [
        ("sfb-client", "default via 192.168.251.1")]
    assert [n.name for n in topo.nodes if n.forwarding] == ["sfb-nat"]
    nat = topo.node("sfb-nat").nat
    assert nat is not None and nat.to == IPv4Address("10.149.4.201")
    assert [(str(p.inside), str(p.outside)) for p in nat.pinned] == [
        ("192.168.251.128:17676", "10.149.4.201:65417")]
    fw = topo.node("fw-inside")
    assert [(i.name, i.peer, i.address) for i in fw.interfaces] == [
        ("expressway-e", "expressway-e", None), ("expressway-c", "expressway-c", None),
        ("cms", "cms", None)]
    assert topo.segment("internet").kind == "bridge"
    assert topo.segment("sfb-lan").kind == "veth"
    assert topo.namespaces("lab2")["cms"] == "lab2-cms"
    assert [n.name for n in topo.firewalls()] == ["fw-outside", "fw-inside"]


def test_default_settings_are_the_lab_values() -> None:
    topo = topology.load("sfb-cms-expressway")
    client = topo.node("sfb-client").settings
    assert isinstance(client, roles.SfbClientSettings)
    assert client.turn.servers == (HostPort.from_text("10.149.4.10:443"),
                                   HostPort.from_text("10.149.4.10:3478"))
    assert client.turn.control_port == 17676
    assert (client.host_ports.passive, client.host_ports.active) == (18027, 13450)
    edge = topo.node("sfb-edge").settings
    assert isinstance(edge, roles.SfbEdgeSettings)
    assert edge.turn.relay_ports == (PortRange(53577, 53577), PortRange(51577, 51577))
    assert str(edge.sip.routes["vc.lab"]) == "192.168.1.229:5061"
    expe = topo.node("expressway-e").settings
    assert isinstance(expe, roles.ExpresswayESettings)
    assert expe.turn.realm == "TANDBERG" and expe.turn.tcp is True
    assert expe.turn.relay_ports == (PortRange(24000, 29999),)
    assert expe.sip.routes["vc.lab"].traversal
    expc = topo.node("expressway-c").settings
    assert isinstance(expc, roles.ExpresswayCSettings)
    assert expc.sip.routes["*"].traversal
    cms = topo.node("cms").settings
    assert isinstance(cms, roles.CmsSettings)
    assert (cms.turn.control_port, cms.turn.data_port, cms.host_port) == (33347, 33348, 38547)
    assert cms.meeting_uri == "sip:88001@vc.lab" and cms.attendees_may_share is True
    assert topo.sip_transport == "tls"


def test_unknown_key_names_line_and_suggests(tmp_path: Path) -> None:
    text = edit("    forwarding: true\n", "    forwardnig: true\n")
    err = error_of(text, tmp_path)
    assert err.line == line_of(text, "forwardnig")
    assert "nodes.sfb-nat.forwardnig: unknown key" in err.message
    assert err.fix is not None and "did you mean 'forwarding'" in err.fix


def test_unknown_key_inside_role_settings(tmp_path: Path) -> None:
    text = edit("      attendees_may_share: true\n",
                "      attendees_may_share: true\n      colour: blue\n")
    err = error_of(text, tmp_path)
    assert err.line == line_of(text, "colour")
    assert "nodes.cms.settings.colour: unknown key" in err.message
    assert err.fix is not None and "meeting_uri" in err.fix


def test_address_outside_its_segment(tmp_path: Path) -> None:
    text = edit("      eth0: 10.48.54.230/24\n", "      eth0: 10.48.55.230/24\n")
    err = error_of(text, tmp_path)
    assert err.line == line_of(text, "10.48.55.230/24")
    assert "10.48.55.230/24 is outside segment vc-internal (10.48.54.0/24)" in err.message
    assert err.fix is not None and "10.48.54.0/24" in err.fix


def test_duplicate_address(tmp_path: Path) -> None:
    text = edit("      eth0: 10.48.54.227/24\n", "      eth0: 10.48.54.230/24\n")
    err = error_of(text, tmp_path)
    assert "duplicate address 10.48.54.230" in err.message
    assert err.line == text.splitlines().index("      eth0: 10.48.54.230/24", 120) + 1
    assert err.fix == "give every interface its own address"


def test_link_to_missing_node(tmp_path: Path) -> None:
    text = edit("expressway-c:eth0, cms:eth0]", "expressway-c:eth0, cmz:eth0]")
    err = error_of(text, tmp_path)
    assert err.line == line_of(text, "cmz:eth0")
    assert "segments.vc-internal.endpoints[2]: links to node 'cmz'" in err.message
    assert err.fix is not None and "define it under nodes:" in err.fix


def test_link_to_missing_interface_and_unlinked_interface(tmp_path: Path) -> None:
    text = edit("[sfb-edge:external, expressway-e:external]", "[sfb-edge:extern, "
                "expressway-e:external]")
    err = error_of(text, tmp_path)
    assert "node sfb-edge has no interface 'extern'" in err.message
    assert err.fix is not None and "internal, external" in err.fix
    text = edit("      eth0: 10.48.54.227/24\n", "      eth0: 10.48.54.227/24\n"
                "      eth1: 10.48.54.228/24\n")
    err = error_of(text, tmp_path)
    assert err.line == line_of(text, "eth1:")
    assert "not linked to any segment" in err.message


def test_yaml_syntax_and_duplicate_keys(tmp_path: Path) -> None:
    text = edit("    role: cms\n", "    role: cms\n    role: switch\n")
    err = error_of(text, tmp_path)
    assert err.line == line_of(text, "role: switch")
    assert "duplicate key" in err.message
    text = edit("  sfb-lan:\n", "  sfb-lan: [\n")
    err = error_of(text, tmp_path)
    assert err.message.startswith("YAML syntax") and err.line is not None


def test_strict_scalars(tmp_path: Path) -> None:
    text = edit("    forwarding: true\n", "    forwarding: yes\n")
    err = error_of(text, tmp_path)
    assert "expected true or false, found 'yes'" in err.message
    text = edit("        control_port: 33347\n", "        control_port: 70000\n")
    err = error_of(text, tmp_path)
    assert "'70000' is not a port number" in err.message
    assert err.line == line_of(text, "70000")
    text = edit("sip_transport: tls ", "sip_transport: udp ")
    err = error_of(text, tmp_path)
    assert "'udp' is not allowed" in err.message and err.fix == "use one of: tls, tcp"


def test_settings_addresses_must_be_the_nodes_own(tmp_path: Path) -> None:
    text = edit("        relay_ip: 192.168.1.252\n", "        relay_ip: 192.168.1.229\n")
    err = error_of(text, tmp_path)
    assert err.message == ("nodes.sfb-edge.settings.turn.relay_ip: 192.168.1.229 is not an "
                           "address of sfb-edge")
    assert err.line == line_of(text, "relay_ip: 192.168.1.229\n".strip())
    assert err.fix == "use one of: 10.149.4.10, 192.168.1.252"


def test_missing_settings_and_missing_key(tmp_path: Path) -> None:
    text = edit("      host_port: 38547\n", "")
    err = error_of(text, tmp_path)
    assert "the key 'host_port' is missing" in err.message


def test_nat_and_routes_are_checked(tmp_path: Path) -> None:
    text = edit("      to: 10.149.4.201\n", "      to: 10.149.4.202\n")
    err = error_of(text, tmp_path)
    assert "10.149.4.202 is not the address of outside" in err.message
    text = edit("{to: default, via: 192.168.251.1}", "{to: default, via: 192.168.252.1}")
    err = error_of(text, tmp_path)
    assert "gateway 192.168.252.1 is on none of sfb-client's segments" in err.message
    text = edit("    forwarding: true\n", "")
    err = error_of(text, tmp_path)
    assert "a NAT needs IP forwarding" in err.message


def test_segments_and_bridges(tmp_path: Path) -> None:
    text = edit("    subnet: 10.149.4.0/24\n", "    subnet: 10.48.0.0/16\n")
    err = error_of(text, tmp_path)
    assert "overlaps" in err.message or "outside segment" in err.message
    text = edit("    bridge: fw-inside\n", "    bridge: cms\n")
    err = error_of(text, tmp_path)
    assert "cms (role cms) cannot hold a bridge" in err.message
    text = edit("    bridge: fw-outside\n", "")
    err = error_of(text, tmp_path)
    assert "fw-outside bridges no segment" in err.message


def test_policy_file_must_exist(tmp_path: Path) -> None:
    text = edit("policy: policies/fw-inside.nft", "policy: policies/nope.nft")
    err = error_of(text, tmp_path)
    assert err.line == line_of(text, "nope.nft") and "not found" in err.message


def test_unknown_topology_name() -> None:
    with pytest.raises(InputError) as info:
        topology.load("no-such-topology")
    assert info.value.fix is not None and "sfb-cms-expressway" in info.value.fix


def test_scenario_style_override_keeps_the_rest() -> None:
    topo = topology.load()
    cms = topo.node("cms").settings
    assert isinstance(cms, roles.CmsSettings)
    doc = datafile.parse("cms:\n  turn: {password: wrong}\n  attendees_may_share: false\n",
                         "scenario.yaml")
    new = doc.read(roles.CmsSettings, ("cms",), base=cms)
    assert new.turn.password == "wrong" and new.attendees_may_share is False
    assert new.turn.server == cms.turn.server and new.ice == cms.ice
    changed = topo.with_settings("cms", new)
    assert changed.node("cms").settings == new and topo.node("cms").settings == cms
    bad = datafile.parse("cms:\n  turn: {pasword: wrong}\n", "scenario.yaml")
    with pytest.raises(InputError) as info:
        bad.read(roles.CmsSettings, ("cms",), base=cms)
    assert info.value.line == 2 and "did you mean 'password'" in str(info.value.fix)


def test_interface_address_types() -> None:
    topo = topology.load()
    assert topo.node("cms").interface("eth0").address == IPv4Interface("10.48.54.230/24")
    with pytest.raises(KeyError):
        topo.node("cms").interface("eth9")
