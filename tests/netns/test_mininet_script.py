"""uclab on a Mininet network built by a script: the documented example script runs (a host
of one's own on the "Internet", the share judged 33/33 from its capture), the lab is reachable
by uclab from outside, ``mn -c`` (Mininet's own cleanup code) would touch nothing of it, and
it survives its Mininet shells being killed."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from mininet.net import Mininet

from lab.kernel import processes
from lab.mn import UclabTopo
from lab.mn.attach import start
from lab.runtime.mininet import host_class
from tests.labhelp import lab_name
from tests.mininethelp import leftovers, mn_c_plan, shell_pids

ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLE = ROOT / "docs" / "examples" / "mininet_share.py"


def uclab(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lab", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout, check=False)


def test_the_example_script_shares_and_leaves_nothing() -> None:
    lab = lab_name()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, str(EXAMPLE), lab], capture_output=True, text=True,
                          cwd="/", env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 packets transmitted, 0 received" in proc.stdout  # fw-outside drops the student
    assert "PASS: all 33 steps of flow.md §3 seen in order" in proc.stdout, proc.stdout
    assert leftovers(lab) == []


@pytest.fixture
def mininet_lab() -> Iterator[tuple[Any, Any]]:
    """A Mininet network from UclabTopo with tagged shells, made a uclab lab."""
    lab = lab_name()
    net = Mininet(topo=UclabTopo(), host=partial(host_class(), lab=lab), controller=None)
    net.start()
    mlab = start(net, lab)
    try:
        yield net, mlab
    finally:
        if (Path("/run/uclab") / lab).exists():
            mlab.close()
        if all(h.shell is not None and h.shell.poll() is None for h in net.hosts):
            net.stop()
        assert leftovers(lab) == []


def test_uclab_reaches_a_script_lab_from_outside(mininet_lab: tuple[Any, Any]) -> None:
    net, mlab = mininet_lab
    st = uclab("status", "--name", mlab.lab, "--json")
    assert st.returncode == 0, st.stdout + st.stderr
    nodes = {n["name"]: n for n in json.loads(st.stdout)["nodes"]}
    assert set(nodes) == {h.name for h in net.hosts}
    out = uclab("exec", "--name", mlab.lab, "cms", "--", "ip", "-br", "addr", "show", "eth0")
    assert "10.48.54.230/24" in out.stdout
    assert net["cms"].IP() == "10.48.54.230"


def test_uclab_down_spares_the_scripts_mininet_hosts(mininet_lab: tuple[Any, Any]) -> None:
    """``uclab down`` of a script's lab (here from another process) removes what the lab made
    (daemons, names, run folder) and leaves the hosts to the script's Mininet."""
    net, mlab = mininet_lab
    daemons = [processes.ProcessId(r.pid, r.start) for r in mlab.ctx.state.records
               if r.kind == "process" and r.pid is not None and r.start is not None]
    assert daemons
    ok = uclab("down", "--name", mlab.lab)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert leftovers(mlab.lab) == [f"shell pid {pid}" for pid in shell_pids(mlab.lab)]
    assert len(shell_pids(mlab.lab)) == len(net.hosts)
    assert not any(processes.alive(p) for p in daemons)
    assert "10.48.54.230" in net["cms"].cmd("ip -br addr show eth0")  # still Mininet's host


def test_mn_c_would_touch_nothing_of_a_running_lab(mininet_lab: tuple[Any, Any]) -> None:
    net, mlab = mininet_lab
    plan = mn_c_plan()
    assert "mininet:" in plan.patterns and "ping" in plan.killall  # the plan is mn -c's
    lab_pids = [pid for pids in processes.pids_in_namespaces(
        [mlab.ctx.ns(h.name) for h in net.hosts]).values() for pid in pids]
    assert len(shell_pids(mlab.lab)) == len(net.hosts)
    assert plan.victims(lab_pids) == {}
    lab_links = {name for h in net.hosts for name in h.intfNames()}
    assert not lab_links & set(plan.links)  # none in the root namespace, where mn -c looks


def test_the_lab_survives_its_mininet_shells_killed(mininet_lab: tuple[Any, Any]) -> None:
    """What ``mn -c`` does to untagged Mininet shells (``pkill -9 -f mininet:``), done to
    this lab's: the named namespaces and the daemons (not children of the shells) live on."""
    net, mlab = mininet_lab
    for pid in shell_pids(mlab.lab):
        os.kill(pid, signal.SIGKILL)
    for host in net.hosts:
        host.shell.wait(timeout=5)
    assert shell_pids(mlab.lab) == []
    st = uclab("status", "--name", mlab.lab)
    assert st.returncode == 0, st.stdout + st.stderr
    run = uclab("run", "screen-share", "--name", mlab.lab, "--media-seconds", "0.3",
                timeout=120)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "PASS: all 33 steps" in run.stdout


def test_the_root_namespace_gets_no_lab_address_route_or_link(
        mininet_lab: tuple[Any, Any]) -> None:
    net, mlab = mininet_lab
    subnets = [ipaddress.ip_network(s.subnet) for s in mlab.topology.segments]
    addrs = json.loads(subprocess.run(["ip", "-j", "addr"], capture_output=True, text=True,
                                      check=True).stdout)
    for link in addrs:
        for a in link.get("addr_info", []):
            if a.get("family") == "inet":
                ip = ipaddress.ip_address(a["local"])
                assert not any(ip in net_ for net_ in subnets), (link["ifname"], ip)
    routes = json.loads(subprocess.run(["ip", "-j", "route", "show", "table", "all"],
                                       capture_output=True, text=True, check=True).stdout)
    for r in routes:
        dst = r.get("dst", "")
        if dst and dst[0].isdigit():
            assert not any(ipaddress.ip_network(dst, strict=False).overlaps(n)
                           for n in subnets), r
    root_macs = {link.get("address") for link in addrs}
    for host in net.hosts:
        inside = json.loads(subprocess.run(["ip", "-n", mlab.ctx.ns(host.name), "-j", "link"],
                                           capture_output=True, text=True, check=True).stdout)
        macs = {link["address"] for link in inside if link["ifname"] != "lo"}
        assert macs and not macs & root_macs, host.name  # every link is inside the lab
