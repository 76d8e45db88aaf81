"""Shared fixtures and layer markers.

Layers, selected by directory: ``tests/unit`` pure, ``tests/netns`` builds
namespaces (root), ``tests/interop`` runs real peers (coturn, kamailio, sipp, tshark).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.nethelp import NetBench

ROOT = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).relative_to(ROOT).parts
        if "netns" in parts:
            item.add_marker(pytest.mark.netns)
        if "interop" in parts:
            item.add_marker(pytest.mark.interop)
            item.add_marker(pytest.mark.netns)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("netns") and os.geteuid() != 0:
        pytest.skip("namespace tests need root")


@pytest.fixture
def netbench() -> Iterator[Callable[[], NetBench]]:
    """Factory of throwaway namespace sets, all removed after the test."""
    made: list[NetBench] = []

    def factory() -> NetBench:
        bench = NetBench()
        made.append(bench)
        return bench

    yield factory
    for bench in made:
        bench.close()


def require_tool(name: str) -> str:
    """Path of an external program the test needs; the suite fails (not skips) without it,
    because ./setup installs every one of them."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run ./setup")
    return path
