"""The policy library of tests/data/policies: each policy file with its expected result
(``NAME.expect.yaml`` next to ``NAME.nft`` / ``NAME.iptables``), read strictly."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lab.base import datafile

POLICIES = Path(__file__).parent / "data" / "policies"
TRACES = Path(__file__).parent / "data" / "firewall"

Status = Literal["passed", "blocked"]


@dataclass(frozen=True)
class FlowExpectation:
    status: Status
    rule: str  # a part of the deciding rule's text (nft rule, chain policy or iptables line)
    line: int | None = None  # iptables-save: the line of that rule
    step: int | None = None  # the ladder step a blocked flow breaks
    verdict: Literal["accept", "drop", "reject"] | None = None
    connections: tuple[Status, ...] = ()
    answer_dropped: bool = False  # blocked because the SYN+ACK was dropped, not the SYN


@dataclass(frozen=True)
class PolicyExpectation:
    description: str
    firewall: Literal["fw-outside", "fw-inside"]
    format: Literal["nft", "iptables"]
    verdict: Literal["pass", "fail"]
    flows: dict[str, FlowExpectation]
    over_permissive: dict[str, str] = field(default_factory=dict)  # probe -> part of the rule
    probes_blocked_by: dict[str, str] = field(default_factory=dict)


def policy_files() -> list[Path]:
    return sorted(p for p in POLICIES.iterdir() if p.suffix in (".nft", ".iptables"))


def expectation(policy: Path) -> PolicyExpectation:
    doc = datafile.load(policy.with_name(policy.stem + ".expect.yaml"))
    exp: PolicyExpectation = doc.read(PolicyExpectation)
    return exp


def compare(policy: Path, exp: PolicyExpectation, report: dict[str, Any]) -> list[str]:
    """Every difference between the JSON report and what the policy's file expects."""
    problems: list[str] = []
    flows = {f["id"]: f for f in report["flows"]}
    name = policy.name
    for fid, want in exp.flows.items():
        got = flows[fid]
        if got["status"] != want.status:
            problems.append(f"{name} {fid}: {got['status']} (by {got['rule']}), "
                            f"expected {want.status}")
            continue
        if want.rule not in (got["rule"] or ""):
            problems.append(f"{name} {fid}: decided by {got['rule']!r}, expected {want.rule!r}")
        if want.line is not None and got["source_line"] != want.line:
            problems.append(f"{name} {fid}: line {got['source_line']}, expected {want.line}")
        step = got["step"].split()[0] if got["step"] else None
        if (str(want.step) if want.step is not None else None) != step:
            problems.append(f"{name} {fid}: step {got['step']}, expected {want.step}")
        if want.verdict is not None and got["verdict"] != want.verdict:
            problems.append(f"{name} {fid}: verdict {got['verdict']}, expected {want.verdict}")
        if got["answer_dropped"] != want.answer_dropped:
            problems.append(f"{name} {fid}: answer dropped {got['answer_dropped']}, "
                            f"expected {want.answer_dropped}")
        conns = tuple(c["status"] for c in got["connections"])
        if want.connections and conns != want.connections:
            problems.append(f"{name} {fid}: connections {conns}, expected {want.connections}")
    probes = {p["id"]: p for p in report["probes"] if p["firewall"] == exp.firewall}
    opened = {pid for pid, p in probes.items() if p["status"] == "passed"}
    if opened != set(exp.over_permissive):
        problems.append(f"{name}: over-permissive {sorted(opened)}, expected "
                        f"{sorted(exp.over_permissive)}")
    for pid, part in {**exp.over_permissive, **exp.probes_blocked_by}.items():
        if part not in (probes[pid]["rule"] or ""):
            problems.append(f"{name} {pid}: decided by {probes[pid]['rule']!r}, "
                            f"expected {part!r}")
    for pid, p in probes.items():
        if pid not in exp.over_permissive and p["status"] != "blocked":
            problems.append(f"{name} {pid}: {p['status']}, expected blocked")
    return problems


def readdressed_topology(folder: Path) -> Path:
    """The default topology at other addresses (as a firewall owner's own would be): the
    inside LAN 10.48.54.0/24 becomes 10.20.30.0/24 and the Internet 192.168.1.0/24 becomes
    172.16.9.0/24, with its baseline policies rendered for those addresses next to it."""
    from lab import topology  # noqa: PLC0415
    from lab.rulesets import firewall_policy, flows_through, required_flows  # noqa: PLC0415

    text = (topology.TOPOLOGY_DIR / "sfb-cms-expressway.yaml").read_text()
    text = text.replace("10.48.54.", "10.20.30.").replace("192.168.1.", "172.16.9.")
    path = folder / "readdressed.yaml"
    path.write_text(text.replace("name: sfb-cms-expressway", "name: readdressed", 1))
    (folder / "policies").mkdir(exist_ok=True)
    for fw in ("fw-outside", "fw-inside"):  # the topology names them: there first, then right
        (folder / "policies" / f"{fw}.nft").write_text("")
    flows = required_flows(topology.load(path))
    for fw in ("fw-outside", "fw-inside"):
        (folder / "policies" / f"{fw}.nft").write_text(
            firewall_policy(fw, flows_through(fw, flows)))
    return path
