"""The Docker runtime's pure parts: names, the argv of exec, what of the environment goes in."""

from __future__ import annotations

import os
import sys

import pytest

from lab import runtime as runtimes
from lab.runtime.docker import IMAGE_ENV, DockerRuntime, _added_env


def test_registered_as_docker_and_names_like_containerlab() -> None:
    rt = runtimes.get("docker")
    assert isinstance(rt, DockerRuntime)
    h = rt.handle("uclab", "cms")
    assert (h.netns, h.runtime, str(h.netns_path)) == ("uclab-cms", "docker",
                                                        "/run/netns/uclab-cms")
    assert not rt.shares_host_filesystem
    assert rt.record_kinds == {"container", "netns"}


def test_exec_argv_asks_for_a_terminal_only_when_there_is_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rt = DockerRuntime("img")
    h = rt.handle("uclab", "cms")
    assert rt.exec_argv(h, ["ss", "-tn"]) == ["docker", "exec", "-i", "uclab-cms", "ss", "-tn"]
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    assert rt.exec_argv(h, ["bash"], interactive=True)[:3] == ["docker", "exec", "-it"]
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    assert rt.exec_argv(h, ["bash"], interactive=True)[:3] == ["docker", "exec", "-i"]


def test_the_image_comes_from_the_argument_then_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(IMAGE_ENV, "uclab:runtime-abc")
    assert DockerRuntime().image == "uclab:runtime-abc"
    assert DockerRuntime("mine:1").image == "mine:1"
    monkeypatch.delenv(IMAGE_ENV)
    assert DockerRuntime().image == "uclab:runtime"


def test_only_what_the_caller_added_to_the_environment_goes_into_the_container(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/root")
    env = {**os.environ, "UCLAB_X": "1", "PYTHONPATH": "/work/tree", "HOME": "/elsewhere"}
    assert _added_env(env) == {"UCLAB_X": "1", "HOME": "/elsewhere"}
    assert _added_env(None) == {}
