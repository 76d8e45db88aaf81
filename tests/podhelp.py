"""The Docker engine and the uclab image for the tests that start what the deploy manifests
describe: whether they are there (a reason to skip when not; the image is built by
:mod:`tests.dockerhelp` if it is missing), and this checkout's code mounted over the image's,
so that the test runs the code under test with the image's packages."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from importlib import metadata
from itertools import count
from pathlib import Path

from tests.deployhelp import ROOT

IMAGE = os.environ.get("UCLAB_IMAGE", "uclab:runtime")
LABEL = "uclab.test"  # every container a test makes carries it, with the test's pid
#: this checkout over the image's install (/opt/uclab: the image imports lab from there)
CHECKOUT = [f"--volume={ROOT / d}:/opt/uclab/{d}:ro"
            for d in ("lab", "nodes", "scenarios", "topologies")]
SITE = "/opt/uclab/.venv/lib/python3.11/site-packages"
_n = count()


def missing() -> str | None:
    """Why the Docker tests cannot run here, or None."""
    if shutil.which("docker") is None:
        return "docker is not installed (./setup installs docker.io)"
    if _docker("info").returncode != 0:
        return "the Docker engine does not answer (./setup starts dockerd)"
    if _docker("image", "inspect", IMAGE).returncode != 0 and IMAGE == "uclab:runtime":
        from tests.dockerhelp import uclab_image  # noqa: PLC0415 - builds it (minutes, once)

        uclab_image("runtime")
    if _docker("image", "inspect", IMAGE).returncode != 0:
        return f"no image {IMAGE}: build it (python -m lab.runtime.image, docs/docker.md)"
    return None


def new_dependencies() -> list[str]:
    """Mounts of this checkout's Python dependencies (and theirs) that the image lacks, from
    this machine's environment (same Debian, same Python): an image built before they were
    added runs this checkout's code with them. A rebuilt image has them all and needs none."""
    wanted = _closure(_declared())
    probe = ("import importlib.metadata as m, sys\n"
             f"for n in {sorted(wanted)!r}:\n"
             "    try: m.distribution(n)\n"
             "    except m.PackageNotFoundError: print(n)\n")
    proc = _docker("run", "--rm", "--network=none", "--entrypoint=/opt/uclab/.venv/bin/python",
                   IMAGE, "-c", probe)
    out = []
    for name in proc.stdout.split():
        dist = metadata.distribution(name)
        site = Path(str(dist.locate_file("")))
        tops = {Path(str(f)).parts[0] for f in dist.files or []} - {"..", "bin", "__pycache__"}
        out += [f"--volume={site / t}:{SITE}/{t}:ro" for t in sorted(tops)]
    return out


def _declared() -> list[str]:
    import tomllib  # noqa: PLC0415

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return [re.split(r"[<>=!~ ;\[]", d, maxsplit=1)[0] for d in deps]


def _closure(names: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:  # a requirement of another platform
            continue
        seen.add(name)
        for req in requires:
            if "extra ==" not in req:
                todo.append(re.split(r"[<>=!~ ;\[(]", req, maxsplit=1)[0])
    return seen


def image_has(module: str) -> bool:
    return _docker("run", "--rm", "--network=none", "--entrypoint=/opt/uclab/.venv/bin/python",
                   IMAGE, "-c", f"import {module}").returncode == 0


def _docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                          check=False)


def container_name(prefix: str) -> str:
    return f"{prefix}-{os.getpid()}-{next(_n)}"


def labels() -> dict[str, str]:
    return {LABEL: str(os.getpid())}


@contextlib.contextmanager
def removed_after(name: str) -> Iterator[str]:
    """The container ``name`` (made by the test) is gone afterwards, whatever happened."""
    try:
        yield name
    finally:
        _docker("rm", "--force", name)


def run(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return _docker(*args, timeout=timeout)
