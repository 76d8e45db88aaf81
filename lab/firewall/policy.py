"""How a decision of a firewall's policy is named as its owner wrote it: the nft rule text,
or for an iptables-save policy the ``-A`` line (and line number) the nft rule came from; and
which chains of a loaded policy run before the lab's trace point.

Policies are read, checked and loaded by :mod:`lab.lifecycle.policies` (the one home of policy
loading for ``uclab up``, scenarios and ``uclab firewall check``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from lab.base.names import namespace
from lab.firewall.iptables import SavedRule, SavedRules, handle_map
from lab.firewall.iptables import parse_saved as parse_iptables
from lab.firewall.report import NamedRule
from lab.firewall.trace import TRACE_TABLE, Decision
from lab.kernel import nftables
from lab.lifecycle.policies import Policy


def rule_names(policies: tuple[Policy, ...], rulesets: Mapping[str, str]) -> RuleNames:
    """Names for the rules of ``policies`` given their loaded rulesets (pure)."""
    ipt = {p.node: p for p in policies if p.format == "iptables"}
    saved = {n: parse_iptables(p.path.read_text()) for n, p in ipt.items()}
    maps = {n: handle_map(saved[n], rulesets[n]) for n in ipt}
    return RuleNames({p.node: p for p in policies}, maps, saved)


def loaded_rulesets(lab: str, nodes: list[str]) -> dict[str, str]:
    """``{node: nft -j list ruleset}`` of the lab's nodes (rules with their handles)."""
    listed = nftables.list_rulesets_json([namespace(lab, n) for n in nodes])
    return {n: listed[namespace(lab, n)] for n in nodes}


@dataclass
class RuleNames:
    """Names the rule behind a decision as its owner wrote it: the nft rule text, or for an
    iptables-save policy the ``-A`` line (and its line number) the nft rule came from."""

    policies: dict[str, Policy]
    handles: dict[str, dict[tuple[str, int], SavedRule]] = field(default_factory=dict)
    saved: dict[str, SavedRules] = field(default_factory=dict)

    def source(self, node: str, d: Decision) -> SavedRule | None:
        """The iptables-save line behind ``d`` at ``node`` (a rule or a chain policy)."""
        if d.family != "ip" or node not in self.saved:
            return None
        if d.rule is None:
            return self.saved[node].policies.get((d.table, d.chain))
        if d.handle is None:
            return None
        return self.handles.get(node, {}).get((d.table, d.handle))

    def name(self, node: str, d: Decision) -> NamedRule:
        line = self.source(node, d)
        return NamedRule(line.text, line.line) if line is not None else NamedRule(d.text)


def early_chains(ruleset_json: str) -> list[str]:
    """Base chains of the loaded policy that can drop a packet before the lab's trace point
    (prerouting below priority -199, ingress): a flow they drop is ``not seen`` rather than
    ``blocked``. Empty chains with an accept policy (iptables' raw table) are harmless."""
    items = json.loads(ruleset_json or "{}").get("nftables", [])
    used = {(r["rule"]["family"], r["rule"]["table"], r["rule"]["chain"])
            for r in items if "rule" in r}
    out = []
    for item in items:
        c = item.get("chain")
        if c is None or c.get("table") == TRACE_TABLE or "hook" not in c:
            continue
        early = c["hook"] == "ingress" or (c["hook"] == "prerouting" and int(c["prio"]) < -199)
        if early and ((c["family"], c["table"], c["name"]) in used or c.get("policy") == "drop"):
            out.append(f"{c['family']} {c['table']} {c['name']} (hook {c['hook']}, priority "
                       f"{c['prio']})")
    return out
