"""``uclab mininet``: Mininet's own CLI on the lab, typed into through a terminal as a person
does. The traversal zone's TLS connection shows in ``ss``, the client has no route to CMS,
``py net.get('cms')`` is Mininet's host, ``share`` places the screen share (33/33 from its
capture) and a failure scenario (the Internet link cut as CMS answers: stopped where the
scenario expects), other terminals reach the lab, and leaving the CLI removes it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from lab import scenario
from tests.labhelp import lab_name
from tests.mininethelp import leftovers
from tests.ptyhelp import PtySession

ROOT = Path(__file__).resolve().parent.parent.parent
PROMPT = b"mininet> "
CUT = "internet-link-cut-after-answer"  # a failure scenario that runs on a lab as it is


def test_mininet_cli_session() -> None:
    lab = lab_name()
    env = dict(os.environ, PYTHONPATH=str(ROOT), TERM="dumb", COLUMNS="120")
    cli = PtySession([sys.executable, "-m", "lab", "mininet", "--name", lab], PROMPT, env=env,
                     cwd=str(ROOT))
    try:
        banner = cli.read_until(PROMPT, 90).decode(errors="replace")
        assert "*** Starting CLI" in banner
        ss = cli.command("expressway-c ss -tnp")
        assert re.search(r"ESTAB .* 10\.48\.54\.227:\d+ +10\.48\.54\.229:7001 .*"
                         r'users:\(\("expressway-c"', ss), ss
        ss = cli.command("expressway-e ss -tnp")
        assert re.search(r"ESTAB .* 10\.48\.54\.229:7001 +10\.48\.54\.227:\d+ .*"
                         r'users:\(\("expressway-e"', ss), ss
        ss = cli.command("cms ss -tnlp")
        assert re.search(r'LISTEN .* 10\.48\.54\.230:5061 .*users:\(\("cms"', ss), ss
        ping = cli.command("sfb-client ping -c1 -W1 10.48.54.230")
        assert "Destination Net Unreachable" in ping and "100% packet loss" in ping, ping
        assert "<LabHost cms: eth0:10.48.54.230" in cli.command("py net.get('cms')")
        dump = cli.command("expressway-e timeout 1 tcpdump -ni external")
        assert "listening on external" in dump, dump
        outside = subprocess.run([sys.executable, "-m", "lab", "status", "--name", lab,
                                  "--json"], capture_output=True, text=True, cwd=ROOT,
                                 env=env, timeout=60, check=False)
        assert outside.returncode == 0, outside.stdout + outside.stderr
        assert json.loads(outside.stdout)["phase"] == "up"
        share = cli.command("share", timeout=120)
        assert "PASS: all 33 steps of flow.md §3 seen in order" in share, share[-3000:]
        assert "scenario screen-share: expectations hold (verdict pass)" in share
        cut = cli.command(f"share {CUT}", timeout=120)
        stop = scenario.load(CUT).expect.stopped_at
        assert f"the ladder stopped at step {stop} " in cut, cut[-3000:]
        assert "expectations hold (verdict fail" in cut, cut[-3000:]
        status = cli.command("uclab status")
        assert "expressway-e" in status and "daemon" in status.lower(), status
        assert cli.finish("exit") == 0, cli.text(cli.transcript[-3000:])
    finally:
        cli.close()
    assert leftovers(lab) == []


def test_a_killed_mininet_cli_leaves_a_lab_that_down_removes() -> None:
    """kill -9 of ``uclab mininet`` at its prompt: the Mininet shells end with their terminal,
    the named namespaces and the daemons stay (recorded), and ``uclab down`` removes exactly
    them."""
    lab = lab_name()
    env = dict(os.environ, PYTHONPATH=str(ROOT), TERM="dumb")
    cli = PtySession([sys.executable, "-m", "lab", "mininet", "--name", lab], PROMPT, env=env,
                     cwd=str(ROOT))
    try:
        cli.read_until(PROMPT, 90)
        cli.proc.kill()
        cli.proc.wait(timeout=10)
    finally:
        cli.close()
    left = leftovers(lab)
    assert f"/run/netns/{lab}-cms" in left
    down = subprocess.run([sys.executable, "-m", "lab", "down", "--name", lab],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=60,
                          check=False)
    assert down.returncode == 0, down.stdout + down.stderr
    assert leftovers(lab) == []
