"""``--shard K/N``: the slices of the real scenario library (file list only, no lab) and of any
set of names: a partition, balanced, independent of order; bad specs are clear errors."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lab import scenario
from lab.base.errors import InputError
from lab.cli import main
from lab.scenario.shard import Shard, partition


@pytest.mark.parametrize("n", [1, 2, 3, 4, len(scenario.names()) + 2])
def test_shards_of_the_library_are_a_partition(n: int) -> None:
    library = scenario.names()
    shards = partition(library, n)
    flat = [name for s in shards for name in s]
    assert sorted(flat) == sorted(library)  # the union is the library, no scenario twice
    assert len(flat) == len(set(flat))
    sizes = [len(s) for s in shards]
    assert max(sizes) - min(sizes) <= 1


def test_the_slices_do_not_depend_on_file_order() -> None:
    library = scenario.names()
    shuffled = library[:]
    random.Random(7).shuffle(shuffled)
    assert shuffled != library
    for k in (1, 2, 3):
        assert Shard(k, 3).select(shuffled) == Shard(k, 3).select(library)


@given(st.sets(st.text(min_size=1, max_size=12), max_size=40), st.integers(1, 9))
def test_any_names_any_n(names: set[str], n: int) -> None:
    shards = partition(sorted(names, reverse=True), n)
    assert sorted(x for s in shards for x in s) == sorted(names)
    assert all(set(a).isdisjoint(b) for i, a in enumerate(shards) for b in shards[i + 1:])


@pytest.mark.parametrize(("text", "says"), [
    ("2", "'2' is not K/N"), ("0/3", "shard 0/3: K must be from 1 to N"),
    ("4/3", "shard 4/3"), ("a/b", "is not K/N"), ("1/0", "shard 1/0")])
def test_bad_shard_specs(text: str, says: str) -> None:
    with pytest.raises(InputError, match="fix: write K/N") as err:
        Shard.parse(text)
    assert says in str(err.value)


@pytest.mark.parametrize(("args", "says"), [
    (["run", "--all", "--shard", "3/2"], "--shard: shard 3/2: K must be from 1 to N"),
    (["run", "screen-share", "--shard", "1/2"], "--shard is for --all"),
    (["firewall", "check", "--shard", "1/2"], "--reports and --shard are for --batch"),
])
def test_shard_usage_errors(args: list[str], says: str,
                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 2
    assert says in capsys.readouterr().err
