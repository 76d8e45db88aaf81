"""What a container (or a non-root shell) withholds that building a lab needs, said before
anything is tried: the capability or security option to add, instead of the kernel's raw
"Operation not permitted" or "Read-only file system" from deep inside a build step.

    problems = confinement_problems()     # [] when the lab can be built here

A lab needs CAP_NET_ADMIN (links, addresses, nftables), CAP_SYS_ADMIN (``unshare``, the
``/run/netns`` bind mounts, ``setns``) and a writable ``/proc/sys`` (each namespace's sysctls);
Docker mounts ``/proc/sys`` read-only unless ``--security-opt systempaths=unconfined``, and its
AppArmor profile ``docker-default`` refuses mounts unless ``--security-opt apparmor=unconfined``.
Docker's default seccomp profile allows ``unshare``/``mount``/``setns`` once CAP_SYS_ADMIN is
granted, so seccomp is named only as a possible cause when a custom filter is in place.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from lab.base.errors import LabError

CAP_NET_ADMIN = 12
CAP_SYS_ADMIN = 21
PROC = Path("/proc")


@dataclass(frozen=True)
class Problem:
    """One thing missing, and how to grant it."""

    missing: str  #: e.g. "capability NET_ADMIN"
    needed_for: str
    docker_flag: str  #: the ``docker run`` option that grants it

    def __str__(self) -> str:
        return f"{self.missing} (needed for {self.needed_for}): add {self.docker_flag}"


def in_container(proc: Path = PROC, root: Path = Path("/")) -> bool:
    """Docker (``/.dockerenv``), Podman (``/run/.containerenv``) or a ``container=`` init."""
    if (root / ".dockerenv").exists() or (root / "run/.containerenv").exists():
        return True
    try:
        env = (proc / "1/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(e.startswith(b"container=") for e in env)


def effective_caps(proc: Path = PROC) -> int:
    """The calling process's effective capability set (``CapEff`` of /proc/self/status)."""
    for line in (proc / "self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    return 0


def _read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _apparmor_profile(proc: Path = PROC) -> str:
    for name in ("self/attr/apparmor/current", "self/attr/current"):
        try:
            return (proc / name).read_text().strip("\0\n ")
        except OSError:
            continue
    return ""


def confinement_problems(proc: Path = PROC) -> list[Problem]:
    """Everything missing for building a lab in this process (empty: nothing is)."""
    caps = effective_caps(proc)
    out = []
    if not caps & (1 << CAP_NET_ADMIN):
        out.append(Problem("capability NET_ADMIN", "links, addresses and nftables",
                           "--cap-add NET_ADMIN"))
    if not caps & (1 << CAP_SYS_ADMIN):
        out.append(Problem("capability SYS_ADMIN", "creating and entering network namespaces",
                           "--cap-add SYS_ADMIN"))
    if _read_only(proc / "sys"):
        out.append(Problem("a writable /proc/sys", "each namespace's sysctls",
                           "--security-opt systempaths=unconfined"))
    profile = _apparmor_profile(proc)
    if profile.endswith("(enforce)") and not profile.startswith("unconfined"):
        out.append(Problem(f"freedom from the AppArmor profile {profile.split()[0]}",
                           "the /run/netns bind mounts", "--security-opt apparmor=unconfined"))
    return out


def explain(problems: list[Problem], *, container: bool) -> str:
    """The message ``uclab`` stops with."""
    if not container:
        return ("uclab needs root (capabilities NET_ADMIN and SYS_ADMIN) to build a lab: "
                "run it with sudo")
    lines = ["this container cannot build a lab:"]
    lines += [f"  - {p}" for p in problems]
    lines.append("  run it with: docker run --cap-add NET_ADMIN --cap-add SYS_ADMIN "
                 "--security-opt systempaths=unconfined --security-opt apparmor=unconfined "
                 "... (docs/docker.md; --privileged grants all of it where it is allowed)")
    return "\n".join(lines)


def check_confinement(proc: Path = PROC) -> None:
    """:class:`LabError` naming what is missing, before a lab is built."""
    problems = confinement_problems(proc)
    if problems:
        raise LabError(explain(problems, container=in_container(proc)))
