"""iptables-save files: lines, counters, chain policies, and the way back from the handle a
trace names to the line the firewall owner wrote (with a real ruleset listing)."""

from __future__ import annotations

import json

from lab.firewall.iptables import handle_map, parse_saved
from lab.firewall.policy import early_chains, rule_names
from lab.firewall.trace import parse
from lab.lifecycle.policies import Policy, detect_format, looks_like_iptables_save
from tests.firewallhelp import POLICIES, TRACES, expectation, policy_files

CONNLIMIT = POLICIES / "inside-3478-connlimit-iptables.iptables"


def test_format_detection_on_the_library() -> None:
    for path in policy_files():
        assert detect_format(path.read_text()) == expectation(path).format, path.name
    assert not looks_like_iptables_save("table inet f {\n}\n# COMMIT\n")


def test_save_with_counters_comments_and_chains() -> None:
    saved = parse_saved((POLICIES / "outside-realistic.iptables").read_text())
    assert saved.exact
    fwd = saved.chains[("filter", "FORWARD")]
    assert [r.line for r in fwd] == [16, 17, 18, 19, 20]
    assert fwd[0].text.startswith("-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED")
    assert saved.chains[("filter", "EXPE-IN")][0].line == 21
    assert saved.chains[("raw", "PREROUTING")] == []
    assert saved.policies[("filter", "FORWARD")].describe() == ":FORWARD DROP (line 10)"
    assert ("filter", "EXPE-IN") not in saved.policies  # user chains have no policy


def test_insert_and_unfollowed_commands() -> None:
    text = ("*filter\n:FORWARD DROP [0:0]\n-A FORWARD -j ACCEPT\n-I FORWARD -p tcp -j DROP\n"
            "-I FORWARD 2 -p udp -j DROP\n-N EXTRA\nCOMMIT\n")
    saved = parse_saved(text)
    assert [r.line for r in saved.chains[("filter", "FORWARD")]] == [4, 5, 3]
    assert not saved.exact


def test_a_traced_handle_back_to_its_line() -> None:
    """End to end without a kernel: the real trace names handle N, the real ruleset listing
    says which rule N is, the file says which line."""
    ruleset = (TRACES / "connlimit-iptables" / "fw-inside.ruleset.json").read_text()
    saved = parse_saved(CONNLIMIT.read_text())
    by_handle = handle_map(saved, ruleset)
    assert sorted(r.line for r in by_handle.values()) == [6, 7, 8, 9, 10, 11]
    pkts = parse((TRACES / "connlimit-iptables" / "fw-inside.trace").read_text().splitlines())
    second = next(p for p in pkts if p.tuple and p.tuple.sport == 33348)
    d = second.decision
    assert d is not None and d.handle is not None
    assert by_handle[("filter", d.handle)].line == 10
    names = rule_names((Policy("fw-inside", CONNLIMIT, "iptables"),), {"fw-inside": ruleset})
    named = names.name("fw-inside", d)
    assert named.line == 10 and "--connlimit-above 1" in named.text


def test_counts_that_disagree_are_not_mapped() -> None:
    ruleset = (TRACES / "connlimit-iptables" / "fw-inside.ruleset.json").read_text()
    saved = parse_saved("*filter\n:FORWARD DROP [0:0]\n-A FORWARD -j ACCEPT\nCOMMIT\n")
    assert handle_map(saved, ruleset) == {}


def test_chain_policy_named_by_its_line() -> None:
    path = POLICIES / "inside-any-any.iptables"
    pkts = parse((TRACES / "any-any" / "fw-inside.trace").read_text().splitlines())
    d = next(p for p in pkts if p.tuple and p.tuple.dport == 7001).decision
    assert d is not None
    ruleset = (TRACES / "any-any" / "fw-inside.ruleset.json").read_text()
    named = rule_names((Policy("fw-inside", path, "iptables"),),
                       {"fw-inside": ruleset}).name("fw-inside", d)
    assert (named.text, named.line) == (":FORWARD ACCEPT", 4)


def test_chains_before_the_trace_point() -> None:
    def chain(name: str, hook: str, prio: int, policy: str = "accept") -> dict[str, object]:
        return {"chain": {"family": "ip", "table": "raw", "name": name, "handle": 1,
                          "type": "filter", "hook": hook, "prio": prio, "policy": policy}}

    items = [chain("PREROUTING", "prerouting", -300), chain("EARLYDROP", "prerouting", -300,
                                                            "drop"),
             chain("LATE", "prerouting", -150, "drop"), chain("RULED", "prerouting", -250),
             {"rule": {"family": "ip", "table": "raw", "chain": "RULED", "handle": 5}}]
    found = early_chains(json.dumps({"nftables": items}))
    assert found == ["ip raw EARLYDROP (hook prerouting, priority -300)",
                     "ip raw RULED (hook prerouting, priority -250)"]
    real = (TRACES / "connlimit-iptables" / "fw-inside.ruleset.json").read_text()
    assert early_chains(real) == []  # the lab's own table is never reported
