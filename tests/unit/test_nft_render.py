"""Golden-text tests of the rendered nftables rulesets."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from lab import topology
from lab.nft import REQUIRED_FLOWS, firewall_policy, flows_through, nat_ruleset

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
    assert [f.id for f in REQUIRED_FLOWS if f.firewall is None] == ["F7"]


def test_flow_rule_text() -> None:
    f6 = next(f for f in flows_through("fw-outside") if f.id == "F6")
    assert ("\t\tip saddr 192.168.1.252 ip daddr 192.168.1.229 tcp sport 50000-59999 tcp dport "
            "24000-29999 ct state new counter accept comment \"F6 the Edge connects in to CMS's "
            "relayed address\"\n") in firewall_policy("fw-outside")
    udp = dataclasses.replace(f6, proto="udp", sport=None)
    text = firewall_policy("fw-x", (udp,))
    assert "ip daddr 192.168.1.229 udp dport 24000-29999 ct state new" in text
    assert text.rstrip().endswith('counter drop comment "everything else"\n\t}\n}')
