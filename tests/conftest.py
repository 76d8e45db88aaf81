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


NOT_ROOT = "namespace tests need root"


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("netns") and os.geteuid() != 0:
        pytest.skip(NOT_ROOT)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say loudly what did not run for want of root (a green line would hide it)."""
    skipped = [r for r in terminalreporter.stats.get("skipped", [])
               if isinstance(r.longrepr, tuple) and NOT_ROOT in str(r.longrepr[2])]
    if skipped:
        terminalreporter.write_sep("!", f"NOT RUN: {len(skipped)} namespace/interop tests "
                                   "(they need root: sudo ./test)", red=True, bold=True)


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
