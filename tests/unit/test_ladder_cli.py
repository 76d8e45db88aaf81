"""``uclab ladder``: exit 0 when the ladder is complete, 1 when it is not, 2 on bad input; the
files asked for are written."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from lab.capture import PcapngWriter
from lab.cli import main
from tests.ladderhelp import FLOW, cut_after, flow, flow_ladder

NAMES = """\
columns:
  sfb: {addresses: [192.168.1.252, 10.149.4.10]}
  expressway-e: {addresses: [192.168.1.229, 10.48.54.229]}
  expressway-c: {addresses: [10.48.54.227]}
  cms: {addresses: [10.48.54.230]}
"""


def _names(tmp_path: Path) -> Path:
    path = tmp_path / "names.yaml"
    path.write_text(NAMES)
    return path


def test_complete_ladder_exits_0_and_writes_files(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "l.json"
    expect = tmp_path / "expect.yaml"
    expect.write_text('9:\n  XOR-MAPPED-ADDRESS: "10.48.54.230:33347"\n')
    code = main(["ladder", str(FLOW), "--names", str(_names(tmp_path)), "--json", str(out),
                 "--svg", str(tmp_path / "l.svg"), "--expect", str(expect), "--width", "120"])
    assert code == 0
    assert json.loads(out.read_text())["verdict"]["verdict"] == "pass"
    assert (tmp_path / "l.svg").stat().st_size > 10_000
    assert "PASS: all 33 steps" in capsys.readouterr().out


def test_incomplete_ladder_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cap = cut_after(flow(), flow_ladder().steps[17].ts_ns or 0)
    buf = io.BytesIO()
    writer = PcapngWriter(buf)
    for iface in cap.interfaces:
        writer.add_interface(iface.name, iface.linktype)
    for p in cap.packets:
        writer.write_packet(p.iface, p.ts_ns, p.data, p.orig_len)
    path = tmp_path / "cut.pcapng"
    path.write_bytes(buf.getvalue())
    assert main(["ladder", str(path), "--names", str(_names(tmp_path)), "--width", "120"]) == 1
    assert "the ladder stopped at step 19" in capsys.readouterr().out


@pytest.mark.parametrize("args", [["--names", "missing.yaml"], ["--expect", "missing.yaml"]])
def test_bad_input_exits_2(args: list[str], tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ladder", str(FLOW), *args]) == 2
    assert "missing.yaml: file not found" in capsys.readouterr().err


def test_bad_expectation_step_number(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expect = tmp_path / "expect.yaml"
    expect.write_text("34:\n  from: x\n")
    assert main(["ladder", str(FLOW), "--expect", str(expect)]) == 2
    err = capsys.readouterr().err
    assert f"{expect}:1: '34' is not a step number of flow.md §3" in err
