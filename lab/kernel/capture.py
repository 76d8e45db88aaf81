"""Packet capture primitives: the interfaces of a namespace, and tcpdump started inside it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from lab.base.errors import LabError
from lab.kernel.setns import netns_exec_argv


def netns_links(name: str) -> list[str]:
    """Names of the network interfaces of namespace ``name``, ``lo`` first if present."""
    proc = subprocess.run(["ip", "-n", name, "-j", "link", "show"], capture_output=True,
                          text=True, check=False, timeout=10)
    if proc.returncode != 0:
        raise LabError(f"cannot list the interfaces of namespace {name!r}: {proc.stderr.strip()}")
    links = [str(link["ifname"]) for link in json.loads(proc.stdout or "[]")]
    return sorted(links, key=lambda n: (n != "lo", links.index(n)))


def start_tcpdump(name: str, iface: str, path: Path) -> subprocess.Popen[bytes]:
    """Start ``tcpdump`` on ``iface`` inside namespace ``name``, writing every whole packet to
    ``path`` (pcap, nanosecond timestamps, flushed packet by packet).

    tcpdump keeps root (``-Z root``) so that it can write into the lab's run folder; its stderr
    is a pipe on which it announces ``listening on`` once the capture is active, and its
    statistics when stopped by SIGINT.
    """
    argv = ["tcpdump", "-Z", "root", "-i", iface, "-w", str(path), "-U", "-s", "0", "-n",
            "--immediate-mode", "--time-stamp-precision=nano"]
    return subprocess.Popen(netns_exec_argv(name, argv), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
