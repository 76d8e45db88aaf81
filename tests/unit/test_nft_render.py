"""Golden-text tests of the rendered nftables rulesets."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from lab import topology
from lab.rulesets import default_flows, firewall_policy, flows_through, nat_ruleset

DATA = Path(__file__).resolve().parent.parent / "data" / "nft"
POLICIES = topology.TOPOLOGY_DIR / "policies"


def test_nat_ruleset_is_golden() -> None:
    node = topology.load().node("sfb-nat")
    assert nat_ruleset(node) == (DATA / "sfb-nat.nft").read_text()


def test_nat_ruleset_puts_the_pinned_mapping_before_the_general_snat() -> None:
    text = nat_ruleset(topology.load().node("sfb-nat"))
    pinned = text.index("tcp sport 17676 counter snat to 10.149.4.201:65417")
    general = text.index("ip saddr 192.168.251.0/24 counter snat to 10.149.4.201 ")
    assert pinned < general


def test_nat_ruleset_needs_a_nat_block() -> None:
    with pytest.raises(ValueError, match="has no nat block"):
        nat_ruleset(topology.load().node("cms"))


@pytest.mark.parametrize("firewall", ["fw-outside", "fw-inside"])
def test_baseline_policies_are_the_rendered_ones(firewall: str) -> None:
    """The committed baselines are exactly what the renderer makes from ports.md's flows."""
    assert (POLICIES / f"{firewall}.nft").read_text() == firewall_policy(firewall)


def test_baselines_allow_exactly_the_required_flows() -> None:
    seen: list[str] = []
    for firewall in ("fw-outside", "fw-inside"):
        accepts = [line.strip() for line in firewall_policy(firewall).splitlines()
                   if "ct state new counter accept" in line]
        seen += [line.split('comment "')[1].split()[0] for line in accepts]
    assert seen == ["F1", "F2", "F6", "F3", "F4", "F5"]
    assert [f.id for f in default_flows() if f.firewall is None] == ["F7"]


def test_flow_rule_text() -> None:
    f6 = next(f for f in flows_through("fw-outside") if f.id == "F6")
    assert ("\t\tip saddr 192.168.1.252 ip daddr 192.168.1.229 tcp sport 50000-59999 tcp dport "
            "24000-29999 ct state new counter accept comment \"F6 the Edge connects in to CMS's "
            "relayed address\"\n") in firewall_policy("fw-outside")
    udp = dataclasses.replace(f6, proto="udp", sport=None)
    text = firewall_policy("fw-x", (udp,))
    assert "ip daddr 192.168.1.229 udp dport 24000-29999 ct state new" in text
    assert text.rstrip().endswith('counter drop comment "everything else"\n\t}\n}')


def test_required_flows_and_probes_follow_the_topologys_addresses(tmp_path: Path) -> None:
    from lab.firewall import flow_specs, probes  # noqa: PLC0415
    from lab.rulesets import required_flows  # noqa: PLC0415
    from tests.firewallhelp import readdressed_topology  # noqa: PLC0415

    topo = topology.load(readdressed_topology(tmp_path))
    flows = {f.id: f for f in required_flows(topo)}
    assert (str(flows["F5"].src), str(flows["F5"].dst), str(flows["F5"].dport)) == (
        "10.20.30.230", "10.20.30.229", "3478")
    assert (str(flows["F6"].src), str(flows["F6"].dst)) == ("172.16.9.252", "172.16.9.229")
    assert [(f.id, f.firewall) for f in flows.values()] == [
        (f.id, f.firewall) for f in default_flows()]  # the same firewalls judge them
    assert str(flows["F7"].dst) == "10.149.4.10"  # the Skype side kept its addresses
    by_id = {p.id: p for p in probes(topo)}
    assert (str(by_id["I8"].src), str(by_id["I8"].dst)) == ("172.16.9.229", "10.20.30.230")
    assert str(by_id["O6"].via) == "172.16.9.229" and by_id["O6"].node == "sfb-edge"
    assert {s.judged_at for s in flow_specs(topo)} == {"fw-outside", "fw-inside", "sfb-nat"}
    rendered = (tmp_path / "policies" / "fw-inside.nft").read_text()
    assert "ip saddr 10.20.30.230 ip daddr 10.20.30.229 tcp dport 3478" in rendered
    assert "10.48.54." not in rendered


def test_a_topology_without_a_role_of_ports_md_is_told(tmp_path: Path) -> None:
    from lab.base.errors import InputError  # noqa: PLC0415
    from lab.rulesets import required_flows  # noqa: PLC0415

    topo = topology.load()
    no_cms = dataclasses.replace(topo, nodes=tuple(n for n in topo.nodes if n.role != "cms"))
    with pytest.raises(InputError, match="has no node with role cms") as err:
        required_flows(no_cms)
    assert err.value.fix == "add a node with role: cms"
