"""Which address is which column: names files (strict, errors with file, line and fix) and the
columns inferred from the share INVITE's hops and the TCP TURN allocation."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.base.errors import InputError
from lab.ladder import infer_names, lab_names_for, load_names, names_from_topology
from lab.topology import load
from tests.ladderhelp import flow_ladder

GOOD = """\
columns:
  sfb: {label: Skype Edge, addresses: [192.168.1.252, 10.149.4.10]}
  expressway-e:
    addresses: [192.168.1.229, 10.48.54.229]
  cms: {addresses: 10.48.54.230}
hosts:
  192.168.251.128: sfb-client
"""


def test_names_file(tmp_path: Path) -> None:
    path = tmp_path / "names.yaml"
    path.write_text(GOOD)
    names = load_names(path)
    assert [c.role for c in names.columns] == ["sfb", "expressway-e", "expressway-c", "cms"]
    assert names.columns[0].label == "Skype Edge" and names.columns[3].label == "Meeting Server"
    assert names.role_of("10.48.54.229") == "expressway-e" and names.role_of("1.2.3.4") is None
    assert names.columns[2].addresses == () and names.columns[3].addresses == ("10.48.54.230",)
    assert names.name_of("192.168.251.128") == "sfb-client"
    assert names.name_of("10.149.4.10") == "Skype Edge"
    assert str(path) in names.source


@pytest.mark.parametrize(("text", "line", "message", "fix"), [
    ("columns:\n  edge: {addresses: [1.2.3.4]}\n", 2, "unknown column 'edge'",
     "use one of: sfb, expressway-e, expressway-c, cms"),
    ("columns:\n  cms:\n    addresses: [10.48.54.300]\n", 3, "'10.48.54.300' is not an IP",
     "write an IPv4 or IPv6 address"),
    ("columns:\n  cms: {adresses: [10.0.0.1]}\n", 2, "adresses", None),
    ("columns: [\n", 2, "YAML syntax", "check indentation"),
])
def test_bad_names_files(tmp_path: Path, text: str, line: int, message: str,
                         fix: str | None) -> None:
    path = tmp_path / "names.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        load_names(path)
    assert err.value.path == path and err.value.line == line
    assert message in str(err.value)
    if fix is not None:
        assert err.value.fix is not None and fix in err.value.fix


def test_inference_from_sip_hops_and_turn() -> None:
    names = infer_names(flow_ladder().analysis.events)
    by_role = {c.role: c.addresses for c in names.columns}
    assert by_role["expressway-e"][:2] == ("192.168.1.229", "10.48.54.229")
    assert by_role["expressway-c"] == ("10.48.54.227",)
    assert by_role["cms"] == ("10.48.54.230",)
    assert "192.168.1.252" in by_role["sfb"] and "inferred" in names.source


def test_inference_without_sip_uses_turn_only() -> None:
    events = [e for e in flow_ladder().analysis.events if e.sip is None]
    names = infer_names(events)
    by_role = {c.role: c.addresses for c in names.columns}
    assert by_role["cms"] == ("10.48.54.230",) and by_role["sfb"] == ("192.168.1.252",)
    assert set(by_role["expressway-e"]) == {"10.48.54.229", "192.168.1.229"}
    assert by_role["expressway-c"] == ()


def test_columns_from_the_lab_topology() -> None:
    names = names_from_topology(load())
    by_role = {c.role: set(c.addresses) for c in names.columns}
    assert by_role == {"sfb": {"192.168.1.252", "10.149.4.10"},
                       "expressway-e": {"192.168.1.229", "10.48.54.229"},
                       "expressway-c": {"10.48.54.227"}, "cms": {"10.48.54.230"}}
    assert names.hosts["192.168.251.128"] == "sfb-client"
    assert lab_names_for(["cms:eth0", "expressway-e:eth0"]) == names
    assert lab_names_for(["cms:eth0", "customer-fw:eth0"]) is None  # not the lab's capture
    assert lab_names_for(["eth0"]) is None
