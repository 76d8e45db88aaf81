"""Helpers for the Docker tests: the uclab image of this very tree, built once per machine
(cached by a tag derived from the files it is made of: :mod:`lab.runtime.image`).

The first build on a clean machine takes a few minutes (debootstrap, apt, pip); after that an
unchanged tree costs one ``docker image inspect``, and a change of the code only its layers.
"""

from __future__ import annotations

import functools
import subprocess

from lab.runtime import image

#: What `docker run` needs to build a lab inside one container (docs/docker.md).
LAB_FLAGS = ["--cap-add", "NET_ADMIN", "--cap-add", "SYS_ADMIN", "--cap-add", "NET_RAW",
             "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
             "--security-opt", "systempaths=unconfined"]
TEST_LABEL = "org.uclab.test"  #: on every container a test runs by hand


@functools.cache
def uclab_image(target: str = "runtime") -> str:
    """The tag of the image of this tree (built now if it does not exist)."""
    ca = image.HOST_CA_BUNDLE if image.HOST_CA_BUNDLE.is_file() else None
    return image.build(image.BuildInputs(target, ca=ca))


def docker(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                          check=False)


def containers_labelled(label: str, value: str) -> list[str]:
    """Names of the containers (running or not) with ``label=value``."""
    out = docker("ps", "-a", "--filter", f"label={label}={value}", "--format", "{{.Names}}")
    return sorted(out.stdout.split())
