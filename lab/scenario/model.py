"""The model of a scenario file (``scenarios/*.yaml``), read strictly by :mod:`lab.datafile`.

A scenario says which topology to build, how long the media runs, how long each phase may take
and what must come out::

    name: screen-share
    description: the tech note's screen share; every step of flow.md §3 in order
    topology: sfb-cms-expressway      # a name under topologies/ or a path next to this file
    media: {seconds: 1.0}             # media both ways for this long, then CMS hangs up
    limits: {setup_seconds: 15}       # share -> media both ways
    expect: {verdict: pass}           # or: {verdict: fail, stopped_at: 11}

To extend (scenario issue): add a field here with a default (old files keep loading), read it
in :mod:`lab.scenario.load`, and give it to the run engine through :class:`lab.run.RunPlan`
(``topology`` after overrides, ``policies``, ``faults``, ``time_scale``); expectations are
judged in :func:`lab.run.expect.judge`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from lab.topology import Topology

MAX_MEDIA_SECONDS = 600.0


@dataclass(frozen=True)
class MediaSpec:
    """How long the share's media runs once it flows both ways."""

    seconds: float = field(default=1.0, metadata={"doc": "seconds of media both ways"})

    def __post_init__(self) -> None:
        if not 0 < self.seconds <= MAX_MEDIA_SECONDS:
            raise ValueError(f"media.seconds must be more than 0 and at most "
                             f"{MAX_MEDIA_SECONDS:g}")


@dataclass(frozen=True)
class Limits:
    """Time limits of the run's phases (seconds)."""

    setup_seconds: float = 15.0  # the share command to media both ways
    hangup_seconds: float = 10.0  # BYE to its 200 OK

    def __post_init__(self) -> None:
        for name in ("setup_seconds", "hangup_seconds"):
            if not 0 < getattr(self, name) <= 3600:
                raise ValueError(f"limits.{name} must be more than 0 and at most 3600")


@dataclass(frozen=True)
class Expect:
    """What must come out. ``verdict: pass`` means every step of flow.md §3 in order with the
    right values and the call completed; ``stopped_at`` is the step where the ladder must stop
    (with ``verdict: fail``)."""

    verdict: Literal["pass", "fail"] = "pass"
    stopped_at: int | None = None

    def __post_init__(self) -> None:
        if self.stopped_at is not None and not 1 <= self.stopped_at <= 33:
            raise ValueError("expect.stopped_at must be a step of flow.md §3 (1-33)")
        if self.stopped_at is not None and self.verdict == "pass":
            raise ValueError("expect.stopped_at needs verdict: fail (a passing ladder does "
                             "not stop)")


@dataclass(frozen=True)
class ScenarioFile:
    """The file as written."""

    name: str
    description: str
    topology: str = "sfb-cms-expressway"
    media: MediaSpec = field(default_factory=MediaSpec)
    limits: Limits = field(default_factory=Limits)
    expect: Expect = field(default_factory=Expect)


@dataclass(frozen=True)
class Scenario:
    """A loaded scenario: the file's values with its topology read and validated."""

    name: str
    description: str
    path: Path
    topology: Topology
    media: MediaSpec
    limits: Limits
    expect: Expect
