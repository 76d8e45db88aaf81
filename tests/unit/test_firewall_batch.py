"""The manifest of ``uclab firewall check --batch DIR`` read strictly, and the summary's
JUnit (no lab is built here)."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from lab.base.errors import InputError
from lab.cli import main
from lab.firewall import batch
from lab.firewall.batch import Pair, PairResult


def _folder(tmp_path: Path, manifest: str | None) -> Path:
    (tmp_path / "out.nft").write_text("table inet f {\n}\n")
    if manifest is not None:
        (tmp_path / "pairs.yaml").write_text(manifest)
    return tmp_path


@pytest.mark.parametrize(("manifest", "says"), [
    (None, "no pairs.yaml in the folder"),
    ("pairs: {}\n", "pairs.yaml:1: pairs: no pairs"),
    ("pairs:\n  a:\n    policies: {fw-outside: nope.nft}\n",
     "pairs.yaml:3: pairs.a.policies.fw-outside: no such file: "),
    ("pairs:\n  a:\n    policies: {fw-outside: out.nft}\n    expect: maybe\n",
     "pairs.yaml:4: "),
    ("pairs:\n  a:\n    polices: {fw-outside: out.nft}\n", "pairs.yaml:3: "),
    ("pairs:\n  a:\n    policies: {}\n", "pairs.yaml:3: pairs.a.policies: no policy"),
])
def test_manifest_errors(tmp_path: Path, manifest: str | None, says: str) -> None:
    with pytest.raises(InputError) as err:
        batch.load(_folder(tmp_path, manifest))
    assert says in str(err.value) and "fix:" in str(err.value)


def test_manifest_defaults_to_pass(tmp_path: Path) -> None:
    [pair] = batch.load(_folder(tmp_path, "pairs:\n  a:\n    policies: {fw-outside: out.nft}\n"))
    assert pair == Pair("a", {"fw-outside": tmp_path / "out.nft"}, "pass")


@pytest.mark.parametrize(("args", "says"), [
    (["--batch", "/nonexistent"], "/nonexistent: no such folder"),
    (["--batch", ".", "--policy", "fw-inside=x.nft"], "--policy is for one check, not --batch"),
    (["--reports", "/tmp/x"], "--reports and --shard are for --batch"),
    (["--batch", ".", "--json", "/nonexistent/x.json"], "no such folder"),
])
def test_batch_usage_errors(args: list[str], says: str,
                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["firewall", "check", *args]) == 2
    assert says in capsys.readouterr().err


def test_a_policy_that_does_not_parse_stops_the_batch_before_any_lab(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _folder(tmp_path, "pairs:\n  good:\n    policies: {fw-outside: out.nft}\n"
                     "  bad:\n    policies: {fw-inside: bad.nft}\n")
    (folder / "bad.nft").write_text("table inet t {\n chain c {\n  tcp dport 5061 acept\n }\n}\n")
    assert main(["firewall", "check", "--batch", str(folder), "--name", "h16nolab"]) == 2
    assert "nft rejects this policy" in capsys.readouterr().err
    assert not Path("/run/uclab/h16nolab").exists()


def test_summary_junit() -> None:
    pairs = [Pair("a", {"fw-outside": Path("a.nft")}, "pass"),
             Pair("b", {"fw-outside": Path("b.nft")}, "fail"),
             Pair("c", {"fw-outside": Path("c.nft")}, "pass")]
    results = [PairResult(pairs[0], "pass"), PairResult(pairs[1], "pass"),
               PairResult(pairs[2], error="the lab could not be brought up")]
    suite = ET.fromstring(batch.summary_junit(results, "2/3"))
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "1")
    prop = suite.find("properties/property")
    assert prop is not None and prop.attrib == {"name": "shard", "value": "2/3"}
    failure = suite.find("testcase[@name='b']/failure")
    assert failure is not None and failure.get("message") == "expected fail, got pass"
    assert batch.summary_json(results)["held"] == 1
