"""Every fuzz target of tests/fuzztargets.py for a short fixed budget (hypothesis: seeds from the
test data, mutated: bytes flipped, inserted, deleted, cut, spliced), and every regression input
kept in tests/data/fuzz/<target>/. The long, coverage-guided run is ``bench/fuzz.py``."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzztargets import TARGETS, Target

BUDGET = 120  # inputs per target in ./test


@st.composite
def mutated(draw: st.DrawFn, target: Target) -> bytes:
    seeds = target.seeds()
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=512))
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 8))):
        op = draw(st.integers(0, 4))
        pos = draw(st.integers(0, len(data)))
        if op == 0 and data:
            data[min(pos, len(data) - 1)] = draw(st.integers(0, 255))
        elif op == 1:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == 2:
            del data[pos:pos + draw(st.integers(1, 64))]
        elif op == 3:
            del data[pos:]
        else:
            other = draw(st.sampled_from(seeds))
            cut = draw(st.integers(0, len(other)))
            data[pos:] = other[cut:]
    return bytes(data)


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    """The cores log every refusal; thousands of lines would only slow the run."""
    logging.disable(logging.CRITICAL)
    yield
    logging.disable(logging.NOTSET)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_fuzz_target(name: str) -> None:
    target = TARGETS[name]

    @settings(max_examples=BUDGET, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(mutated(target))
    def run(data: bytes) -> None:
        target.run(data)

    for seed in target.seeds():
        target.run(seed)
    run()


REGRESSIONS = [(name, path) for name, t in sorted(TARGETS.items()) for path in t.regressions()]


@pytest.mark.parametrize(("name", "path"), REGRESSIONS,
                         ids=[f"{n}/{p.name}" for n, p in REGRESSIONS])
def test_fuzz_regression(name: str, path: object) -> None:
    from pathlib import Path  # noqa: PLC0415

    assert isinstance(path, Path)
    TARGETS[name].run(path.read_bytes())


def test_every_target_has_seeds() -> None:
    assert all(t.seeds() for t in TARGETS.values())
