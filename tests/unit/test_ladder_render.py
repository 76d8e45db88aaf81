"""The ladder drawn: terminal lines with the four columns and ports, JSON with steps, media and
verdict, an SVG picture that is well-formed XML, and one HTML page."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from rich.console import Console

from lab.ladder import build_ladder, write_outputs
from lab.ladder.render_json import ladder_json
from lab.ladder.render_svg import ladder_svg
from lab.ladder.render_text import ladder_lines, report
from tests.ladderhelp import cut_after, flow, flow_ladder, names


def test_terminal_ladder_lines() -> None:
    lines = [t.plain for t in ladder_lines(flow_ladder(), width=140)]
    header = lines[0]
    for label in ("Skype for Business", "Expressway-E", "Expressway-C", "Meeting Server"):
        assert label in header
    assert "192.168.1.229" in lines[1] and "10.48.54.229" in lines[2]
    alloc = next(line for line in lines if "Allocate Success Response" in line)
    assert alloc.split()[1] == "9" and ":3478" in alloc and ":33347" in alloc
    assert alloc.index("Allocate") < alloc.index("▶")
    assert any("XOR-MAPPED-ADDRESS: 10.48.54.230:33347" in line for line in lines)
    assert any(line.strip() in {"SIP", "TURN", "ICE", "Media"} for line in lines)


def test_report_prints_steps_media_and_verdict() -> None:
    console = Console(width=160, record=True, color_system=None)
    console.print(report(flow_ladder(), 160))
    text = console.export_text()
    assert "Canonical steps (flow.md §3)" in text and "Media (from the capture" in text
    assert text.rstrip().endswith("PASS: all 33 steps of flow.md §3 seen in order")


def test_json_has_steps_media_and_verdict() -> None:
    data = json.loads(json.dumps(ladder_json(flow_ladder())))
    steps = data["steps"]
    assert [s["number"] for s in steps] == list(range(1, 34))
    s9 = steps[8]
    assert s9["status"] == "seen" and s9["source"] == "10.48.54.229:3478"
    assert s9["destination"] == "10.48.54.230:33347"
    assert s9["message"] == "Allocate Success Response"
    assert s9["values"]["XOR-RELAYED-ADDRESS"] == "192.168.1.229:24000"
    assert isinstance(s9["time"], float) and isinstance(s9["frame"], int)
    assert data["verdict"] == {"verdict": "pass", "summary": flow_ladder().verdict.summary,
                               "stopped_at": None, "node": None, "reasons": [], "other": [],
                               "missing": [], "out_of_order": [], "wrong": []}
    assert {m["payload_types"][0] for m in data["media"]} == {127}
    assert [c["label"] for c in data["columns"]] == ["Skype for Business", "Expressway-E",
                                                     "Expressway-C", "Meeting Server"]


def test_json_of_a_failure() -> None:
    ladder = build_ladder(cut_after(flow(), flow_ladder().steps[4].ts_ns or 0), names=names())
    verdict = ladder_json(ladder)["verdict"]
    assert isinstance(verdict, dict)
    assert verdict["verdict"] == "fail" and verdict["stopped_at"] == 6
    assert verdict["node"] == "Meeting Server"


def test_svg_is_well_formed_with_columns_and_values() -> None:
    svg = ladder_svg(flow_ladder())
    root = ET.fromstring(svg)
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    for label in ("Skype for Business", "Expressway-E", "Expressway-C", "Meeting Server",
                  "Internet", "192.168.1.229", "10.48.54.229", "TCP 24000",
                  "XOR-RELAYED-ADDRESS: 192.168.1.229:24000", "ConnectionAttempt Indication"):
        assert label in texts, label


def test_files_written(tmp_path: Path) -> None:
    out = {k: tmp_path / f"ladder.{k}" for k in ("json", "svg", "html")}
    write_outputs(flow_ladder(), json_path=out["json"], svg_path=out["svg"],
                  html_path=out["html"])
    assert json.loads(out["json"].read_text())["verdict"]["verdict"] == "pass"
    ET.fromstring(out["svg"].read_text())
    html = out["html"].read_text()
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html
    assert "PASS: all 33 steps" in html and "a=candidate:2 1 TCP-PASS 352321535" in html
