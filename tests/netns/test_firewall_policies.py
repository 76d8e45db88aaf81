"""Every policy of tests/data/policies through `uclab firewall check` (the real screen share),
compared with the result written next to it. Each flow crosses one firewall, so a check judges
an fw-outside policy and an fw-inside policy at once: one lab per pair. The share's ladder says
where the call broke first (None: it passed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lab.cli import main
from tests.firewallhelp import POLICIES, compare, expectation, policy_files
from tests.labhelp import lab_name

#: (fw-outside policy, fw-inside policy, the step where the share's ladder stops)
PAIRS = [
    ("outside-baseline-like.nft", "inside-baseline-like.nft", None),
    ("outside-realistic.iptables", "inside-correct.iptables", None),
    ("outside-relay-outbound-only.nft", "inside-3478-udp-only.nft", 6),
    ("outside-relay-udp-only.nft", "inside-3478-connlimit.nft", 17),
    ("outside-missing-f2.iptables", "inside-traversal-wrong-direction.nft", 3),
    ("outside-any-any.nft", "inside-whole-lan-inbound.nft", None),
    ("outside-baseline-like.nft", "inside-3478-connlimit-iptables.iptables", 19),
    ("outside-realistic.iptables", "inside-any-any.iptables", None),
    ("outside-relay-outbound-only.nft", "inside-stateless.iptables", 3),
]


def test_every_policy_is_in_a_pair_and_has_its_expectation() -> None:
    paired = {name for a, b, _ in PAIRS for name in (a, b)}
    files = {p.name for p in policy_files()}
    assert files == paired
    assert len(files) >= 10
    for name in files:
        exp = expectation(POLICIES / name)
        assert exp.firewall == ("fw-outside" if name.startswith("outside") else "fw-inside")


@pytest.mark.parametrize(("outside", "inside", "stop"), PAIRS,
                         ids=[f"{a}+{b}" for a, b, _ in PAIRS])
def test_policy_pair(outside: str, inside: str, stop: int | None, tmp_path: Path) -> None:
    out_exp, in_exp = expectation(POLICIES / outside), expectation(POLICIES / inside)
    report_path = tmp_path / "report.json"
    code = main(["firewall", "check", "--name", lab_name(),
                 "--policy", f"fw-outside={POLICIES / outside}",
                 "--policy", f"fw-inside={POLICIES / inside}", "--json", str(report_path)])
    report = json.loads(report_path.read_text())
    problems = (compare(POLICIES / outside, out_exp, report)
                + compare(POLICIES / inside, in_exp, report))
    assert not problems, "\n".join(problems)
    assert report["policies"]["fw-outside"]["format"] == out_exp.format
    assert report["policies"]["fw-inside"]["format"] == in_exp.format
    f7 = next(f for f in report["flows"] if f["id"] == "F7")
    assert (f7["status"], f7["judged_at"]) == ("passed", "sfb-nat")
    want = "pass" if (out_exp.verdict, in_exp.verdict) == ("pass", "pass") else "fail"
    assert report["verdict"] == want
    assert code == (0 if want == "pass" else 1)
    share = report["share"]
    assert share["stopped_at"] == stop, share["ladder"]
    assert report["step_source"] == "ladder"
    assert (report["first_broken_step"] or "").startswith(f"{stop} " if stop else "")
    for f in report["flows"]:  # the share opens F1 and F7 in any case; the rest when reached
        if stop is None or f["id"] in ("F1", "F7"):
            assert f["judged_by"] == "share", f
        elif f["judged_by"] == "attempt":
            assert f"{f['id']}: the share did not open all its connections" in " ".join(
                report["notes"])
