"""iptables-save files: reading their rules with line numbers, and the way back from the nft
rule that decided (its handle, from the trace) to the line the firewall owner wrote.

``iptables-nft-restore`` turns each ``-A CHAIN ...`` line into one nft rule of table
``ip <table>``, chain ``CHAIN``, in file order (``-I`` inserts), so the n-th rule that ``nft -j
list ruleset`` shows in a chain is the n-th rule the file puts there. The trace names the rule
by its handle; :func:`handle_map` pairs handles with lines. If a chain's counts do not agree
(rules added by something else), that chain is left unmapped rather than mapped wrongly.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

_COUNTERS = re.compile(r"^\[\d+:\d+\]\s*")
_CHAIN = re.compile(r"^:(?P<chain>\S+)\s+(?P<policy>\S+)")
_RULE = re.compile(r"^-(?P<op>[AI])\s+(?P<chain>\S+)(?P<rest>.*)$")
_INSERT_AT = re.compile(r"^\s+(\d+)(?=\s|$)")


@dataclass(frozen=True)
class SavedRule:
    """One rule line of an iptables-save file (counters removed)."""

    line: int
    text: str  # "-A FORWARD -s 10.48.54.230/32 ... -j ACCEPT"

    def describe(self) -> str:
        return f"{self.text} (line {self.line})"


@dataclass
class SavedRules:
    """The rules and chain policies of a file: ``(table, chain) -> rules in kernel order``."""

    chains: dict[tuple[str, str], list[SavedRule]] = field(default_factory=dict)
    policies: dict[tuple[str, str], SavedRule] = field(default_factory=dict)
    exact: bool = True  # False if the file uses commands whose effect is not followed here


def parse_saved(text: str) -> SavedRules:
    """Read an iptables-save file (as ``iptables-save -c`` prints it, or without counters)."""
    out = SavedRules()
    table = "filter"
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _COUNTERS.sub("", raw.strip())
        if not line or line.startswith("#") or line == "COMMIT":
            continue
        if line.startswith("*"):
            table = line[1:].strip()
            continue
        chain = _CHAIN.match(line)
        if chain:
            out.chains.setdefault((table, chain["chain"]), [])
            if chain["policy"] != "-":
                text = f":{chain['chain']} {chain['policy']}"
                out.policies[(table, chain["chain"])] = SavedRule(number, text)
            continue
        rule = _RULE.match(line)
        if rule is None:
            out.exact = False  # -N, -F, -X, -D, -P ...: not followed
            continue
        rules = out.chains.setdefault((table, rule["chain"]), [])
        if rule["op"] == "A":
            rules.append(SavedRule(number, line))
        else:
            at = _INSERT_AT.match(rule["rest"])
            rules.insert(int(at.group(1)) - 1 if at else 0, SavedRule(number, line))
    return out


def handle_map(saved: SavedRules, ruleset_json: str) -> dict[tuple[str, int], SavedRule]:
    """``(table, handle) -> line`` for the ``ip`` tables of a namespace's ruleset
    (``nft -j list ruleset``), chain by chain where the counts agree."""
    listed: dict[tuple[str, str], list[int]] = {}
    for item in json.loads(ruleset_json or "{}").get("nftables", []):
        rule = item.get("rule")
        if rule is not None and rule.get("family") == "ip":
            listed.setdefault((rule["table"], rule["chain"]), []).append(int(rule["handle"]))
    out: dict[tuple[str, int], SavedRule] = {}
    for key, rules in saved.chains.items():
        handles = listed.get(key, [])
        if len(handles) == len(rules):
            out.update({(key[0], h): r for h, r in zip(handles, rules, strict=True)})
    return out
