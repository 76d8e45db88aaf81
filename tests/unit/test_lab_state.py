"""The state file, the run folder, the lab lock, clean's handling of record-less folders, and
the pure parts of up/status/graph (sysctls, counters, pictures)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from lab import topology
from lab.base.errors import InputError, LabError
from lab.base.names import check_lab_name, namespace
from lab.base.state import LabState, Record, RunDir, list_labs
from lab.lifecycle import network, teardown
from lab.lifecycle.status import parse_counters
from lab.topology.graph import svg

DATA = Path(__file__).resolve().parent.parent / "data" / "nft"
ROOT = Path(__file__).resolve().parent.parent.parent


def test_lab_names() -> None:
    assert check_lab_name("uclab2") == "uclab2"
    for bad in ("", "Uclab", "u-lab", "2lab", "a" * 13):
        with pytest.raises(InputError):
            check_lab_name(bad)
    assert namespace("uclab", "cms") == "uclab-cms"


def test_state_round_trip_and_records(tmp_path: Path) -> None:
    state = LabState.create("lab1", Path("/t.yaml"), {"cms": "cms"}, {"fw": Path("/p.nft")},
                            root=tmp_path)
    run = RunDir("lab1", tmp_path)
    assert sorted(p.name for p in run.path.iterdir()) == [
        "captures", "config", "control", "lock", "logs", "pki", "state.json"]
    rec = state.add(Record("netns", "lab1-cms"))
    on_disk = json.loads(run.state_file.read_text())
    assert on_disk["records"] == [{"kind": "netns", "name": "lab1-cms", "ns": None, "pid": None,
                                   "start": None, "argv": None, "done": False}]
    state.confirm(rec)
    proc = state.add(Record("process", "daemon:cms", ns="lab1-cms", argv=["x"]))
    state.confirm(proc, pid=42, start=7)
    state.set_phase("up")
    state.release()
    again = LabState.load("lab1", tmp_path)
    assert again.phase == "up" and again.nodes == {"cms": "cms"}
    assert again.policies == {"fw": "/p.nft"} and again.topology == "/t.yaml"
    assert [(r.kind, r.name, r.pid, r.start, r.done) for r in again.records] == [
        ("netns", "lab1-cms", None, None, True), ("process", "daemon:cms", 42, 7, True)]
    again.drop(again.records[0])
    assert len(LabState.load("lab1", tmp_path).records) == 1
    assert run.log("cms") == tmp_path / "lab1" / "logs" / "cms.log"
    assert run.control("cms") == tmp_path / "lab1" / "control" / "cms.sock"
    assert list_labs(tmp_path) == ["lab1"]


def test_one_lab_per_name_and_the_lock(tmp_path: Path) -> None:
    state = LabState.create("lab1", Path("/t.yaml"), {}, {}, root=tmp_path)
    with pytest.raises(LabError, match="exists already"):
        LabState.create("lab1", Path("/t.yaml"), {}, {}, root=tmp_path)
    other = LabState.load("lab1", tmp_path)
    assert other.busy()  # held by `state`, as during an up
    with pytest.raises(LabError, match="busy"):
        teardown.down("lab1", tmp_path)
    state.release()
    assert not other.busy()
    with pytest.raises(LabError, match="no lab named nolab"):
        LabState.load("nolab", tmp_path)


def test_lock_is_released_when_its_holder_is_killed(tmp_path: Path) -> None:
    code = ("import sys, time; from pathlib import Path; from lab.base.state import LabState; "
            "LabState.create('lab1', Path('/t'), {}, {}, root=Path(sys.argv[1])); "
            "print('ok', flush=True); time.sleep(30)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ok\n"
        assert LabState.load("lab1", tmp_path).busy()
    finally:
        proc.kill()
        proc.wait()
    assert not LabState.load("lab1", tmp_path).busy()


def test_down_of_a_lab_with_only_paths(tmp_path: Path) -> None:
    state = LabState.create("lab1", Path("/t.yaml"), {}, {}, root=tmp_path)
    (state.run.path / "pki" / "ca.pem").write_text("x")
    state.add(Record("path", "pki/ca.pem"))
    state.add(Record("path", "../../etc/passwd"))  # refused: outside the run folder
    state.release()
    removed = teardown.down("lab1", tmp_path)
    assert removed.paths == [str(tmp_path / "lab1" / "pki" / "ca.pem")]
    assert not (tmp_path / "lab1").exists()


def test_clean_uses_records_only(tmp_path: Path) -> None:
    up = LabState.create("healthy", Path("/t.yaml"), {}, {}, root=tmp_path)
    up.set_phase("up")
    up.release()
    crashed = LabState.create("crashed", Path("/t.yaml"), {}, {}, root=tmp_path)
    crashed.release()  # phase "building", nobody holds it: a crash
    (tmp_path / "empty").mkdir()  # killed before its first record
    old = time.time() - 60
    os.utime(tmp_path / "empty", (old, old))
    (tmp_path / "young").mkdir()  # an up that is just starting
    (tmp_path / "not-a-lab").mkdir()  # not a lab name: never touched
    report = teardown.clean(root=tmp_path)
    assert report["healthy"] == "left: it is up (uclab down --name healthy)"
    assert not isinstance(report["crashed"], str)
    assert report["empty"] == "removed an empty run folder"
    assert report["young"] == "left: being created"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["healthy", "not-a-lab", "young"]
    report = teardown.clean(everything=True, root=tmp_path)
    assert not (tmp_path / "healthy").exists()


def test_node_sysctls() -> None:
    topo = topology.load()
    assert network.node_sysctls(topo.node("sfb-nat"))["net.ipv4.ip_forward"] == 1
    edge = network.node_sysctls(topo.node("sfb-edge"))
    assert edge == {"net.ipv6.conf.all.disable_ipv6": 1,
                    "net.ipv6.conf.default.disable_ipv6": 1, "net.ipv4.ip_forward": 0,
                    "net.ipv4.icmp_ratelimit": 0}
    fw = network.node_sysctls(topo.node("fw-inside"))
    assert fw["net.bridge.bridge-nf-call-iptables"] == 1 and fw["net.ipv4.ip_forward"] == 0


def test_counters_of_a_real_listing() -> None:
    rules = parse_counters((DATA / "fw-inside-listed.txt").read_text())
    assert [(r.table, r.chain) for r in rules] == [("inet filter", "forward")] * 6
    last = rules[-1]
    assert (last.comment, last.packets, last.bytes, last.rule) == (
        "everything else", 2, 168, "counter drop")
    assert rules[4].rule == ("ip saddr 10.48.54.230 ip daddr 10.48.54.229 tcp dport 3478 "
                             "ct state new counter accept")


def test_svg_is_well_formed_and_complete() -> None:
    topo = topology.load()
    text = svg(topo)
    root = ET.fromstring(text.split("\n", 1)[1])
    texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    for node in topo.nodes:
        assert node.name in texts
        for i in node.interfaces:
            if i.address is not None:
                assert f"{i.name} {i.address}" in texts
    assert "pin 192.168.251.128:17676 -> 10.149.4.201:65417" in texts
    assert "firewall (bridge vc-internal)" in texts


def test_cli_graph_and_bad_policy_argument(tmp_path: Path) -> None:
    out = tmp_path / "t.svg"
    result = subprocess.run([sys.executable, "-m", "lab", "graph", "--svg", str(out)],
                            capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stderr
    assert "pinned tcp 192.168.251.128:17676 -> 10.149.4.201:65417" in result.stdout
    assert out.read_text() == svg(topology.load())
    bad = subprocess.run([sys.executable, "-m", "lab", "up", "--policy", "fw-outside"],
                         capture_output=True, text=True, cwd=ROOT, check=False)
    assert bad.returncode == 2 and "is not NODE=FILE" in bad.stderr


def test_threads_of_one_process_save_the_state_at_once(tmp_path: Path) -> None:
    """A build step's worker thread records while the main thread rolls back (Ctrl-C): both
    save state.json, and neither may fail (a shared temporary file made one of them raise
    FileNotFoundError)."""
    import threading  # noqa: PLC0415

    state = LabState.create("lab1", Path("t.yaml"), {"cms": "cms"}, {}, root=tmp_path)
    errors: list[BaseException] = []

    def record(n: int) -> None:
        try:
            for i in range(200):
                state.add(Record("path", f"t{n}-{i}"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=record, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    state.release()
    assert errors == []
    saved = json.loads(state.run.state_file.read_text())
    assert len(saved["records"]) == 800
    assert sorted(p.name for p in state.run.path.iterdir() if p.name.startswith(".")) == []
