"""Start kamailio (a stateful proxy of the config in tests/data/sip/kamailio.cfg.in) in a
namespace, bounded in time; used by the interop test and by bench/bench_sip.py. Stop it with
:func:`tests.nethelp.stop_process`."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from tests.nethelp import Node

CFG = Path(__file__).resolve().parent.parent / "data" / "sip" / "kamailio.cfg.in"
MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"


def start_kamailio(node: Node, folder: Path, listen: str, next_hop: str) -> subprocess.Popen[bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    cfg = folder / "kamailio.cfg"
    cfg.write_text(CFG.read_text().replace("@LISTEN@", listen).replace("@NEXT@", next_hop)
                   .replace("@MODULES@", MODULES))
    check = node.exec("kamailio", "-c", "-f", str(cfg), check=False)
    if check.returncode != 0:
        raise RuntimeError(f"kamailio rejects its config: {check.stderr[-2000:]}")
    with (folder / "kamailio.log").open("wb") as log:
        proc = node.popen("timeout", "120", "kamailio", "-f", str(cfg), "-DD", "-E", "-m", "64",
                          "-M", "8", "-Y", str(folder), stdout=subprocess.DEVNULL, stderr=log)
    for _ in range(100):
        # kamailio's own listener: something else on the port (a proxy not yet gone) makes
        # kamailio log "Address already in use" and a plain "is it listening" check lie
        if any(listen in line and '"kamailio"' in line
               for line in node.exec("ss", "-tlnpH").stdout.splitlines()):
            return proc
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"kamailio did not listen: {(folder / 'kamailio.log').read_text()[-2000:]}")
