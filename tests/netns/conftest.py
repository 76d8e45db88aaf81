"""Fixtures of the namespace tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.nethelp import NetBench
from tests.turnlab import Lab, lab_factory_impl


@pytest.fixture
def lab_factory(netbench: Callable[[], NetBench]) -> Iterator[Callable[..., Lab]]:
    """``make(**config)`` builds tests/turnhelp.py's namespaces with our TURN server in srv."""
    yield from lab_factory_impl(netbench)
