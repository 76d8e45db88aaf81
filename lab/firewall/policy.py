"""Firewall policies given by their owner: nftables files as they are, iptables-save files
through iptables-nft; checked before anything is built, loaded into the lab's firewalls.

    with prepare(topo, {"fw-inside": Path("fw.rules")}, fmt=None) as prep:   # InputError
        ctx = build.up(prep.topology, lab, steps=lab_steps(traffic, prep.steps))
        names = prep.rule_names(lab)       # the rule that decided, as the owner wrote it

nftables files are checked by the lab's own ``nft -c`` check
(:func:`lab.lifecycle.build.check_policies`); iptables-save files by ``iptables-nft-restore --test``
and a real restore, both in a throwaway namespace. An iptables firewall gets a comment-only nftables
file as its lab policy (so that ``uclab up``'s nft step has something to load and ``uclab status``
says where the rules came from), then a build step restores the iptables-save file in its namespace.
"""

from __future__ import annotations

import contextlib
import json
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from lab.base.errors import InputError
from lab.base.names import namespace
from lab.firewall.iptables import SavedRule, SavedRules, handle_map, looks_like_iptables_save
from lab.firewall.iptables import parse_saved as parse_iptables
from lab.firewall.report import NamedRule
from lab.firewall.trace import TRACE_TABLE, Decision
from lab.kernel import nftables
from lab.lifecycle import build
from lab.lifecycle.build import BuildContext, Step
from lab.topology import Topology

Format = Literal["nft", "iptables"]
FORMATS: tuple[Format, ...] = ("nft", "iptables")
_OWN_NAME = re.compile(rf"\b{TRACE_TABLE}\b")


@dataclass(frozen=True)
class Policy:
    """One firewall's policy file and its format."""

    node: str
    path: Path
    format: Format


def detect_format(text: str) -> Format:
    """``iptables`` for an iptables-save file (``*table`` ... ``COMMIT``), else ``nft``."""
    return "iptables" if looks_like_iptables_save(text) else "nft"


def read_policies(topo: Topology, files: Mapping[str, Path], fmt: Format | None = None
                  ) -> tuple[Policy, ...]:
    """The policies named on the command line: each node a firewall of ``topo``, each file
    readable; the format given, else detected from the text."""
    build.with_policies(topo, dict(files))  # each node a firewall, each file there
    out = []
    for node, path in files.items():
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read the policy: {exc}", path,
                             fix="give a text file (nftables or iptables-save)") from None
        _check_own_name(path, text)
        out.append(Policy(node, path.resolve(), fmt or detect_format(text)))
    return tuple(out)


def _check_own_name(path: Path, text: str) -> None:
    for number, line in enumerate(text.splitlines(), start=1):
        if _OWN_NAME.search(line.split("#", 1)[0]):
            raise InputError(f"the name {TRACE_TABLE} is reserved for the lab's tracing table",
                             path, number, fix="rename your table or chain")


def validate(topo: Topology, policies: tuple[Policy, ...]) -> None:
    """Every policy must load: InputError quoting the tool's own message and line, before
    anything is built."""
    ipt = [p.path for p in policies if p.format == "iptables"]
    for failure in nftables.iptables_check_files(ipt):
        raise InputError(f"iptables-nft-restore rejects this policy:\n{failure.message}",
                         failure.path, failure.line,
                         fix="correct the line it points at; `iptables-nft-restore --test "
                         "FILE` checks a file; give --format nft if it is an nftables file")
    nft = {p.node: p.path for p in policies if p.format == "nft"}
    build.check_policies(build.with_policies(topo, nft))


@dataclass
class Prepared:
    """Validated policies, ready for :func:`lab.lifecycle.build.up`."""

    policies: tuple[Policy, ...]
    topology: Topology  # with each firewall's lab policy (the nft file or an iptables stub)
    steps: list[Step] = field(default_factory=list)  # extra build steps (iptables restores)

    def rule_names(self, lab: str, rulesets: Mapping[str, str] | None = None) -> RuleNames:
        """How to name rules as written (call after ``up``): iptables lines are found through
        the loaded rulesets (``{node: nft -j list ruleset}``; listed here if not given)."""
        if rulesets is None:
            rulesets = loaded_rulesets(lab, [p.node for p in self.policies
                                             if p.format == "iptables"])
        return rule_names(self.policies, rulesets)


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


@contextlib.contextmanager
def prepare(topo: Topology, files: Mapping[str, Path], fmt: Format | None = None
            ) -> Iterator[Prepared]:
    """Read and validate the policies (InputError, nothing built) and make what ``up`` needs.
    The stub files of iptables firewalls live as long as the ``with`` block."""
    policies = read_policies(topo, files, fmt)
    validate(topo, policies)
    with tempfile.TemporaryDirectory(prefix="uclab-fw-") as tmp:
        for p in policies:
            path = p.path
            if p.format == "iptables":
                path = Path(tmp) / f"{p.node}.nft"
                path.write_text(f"# {p.node}: iptables-save policy {p.path}, loaded by "
                                "iptables-nft-restore (uclab firewall check)\n")
            topo = topo.with_policy(p.node, path)
        ipt = [p for p in policies if p.format == "iptables"]
        steps = [Step("iptables", lambda ctx: _restore(ctx, ipt))] if ipt else []
        yield Prepared(policies, topo, steps)


def _restore(ctx: BuildContext, policies: list[Policy]) -> None:
    nftables.iptables_load([(ctx.ns(p.node), p.path) for p in policies])


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
