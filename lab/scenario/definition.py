"""The model of a scenario file (``scenarios/*.yaml``), read strictly by :mod:`lab.base.datafile`.

A scenario says which topology to build and how to change it, what to break, how long each
phase may take and what must come out::

    name: cms-wrong-turn-password
    description: CMS has the wrong TURN password for Expressway-E   # `uclab scenarios` shows it
    topology: sfb-cms-expressway      # a name under topologies/ or a path next to this file
    overrides:                        # node settings (lab/topology/roles.py), merged key by key
      cms: {turn: {password: not-the-secret}}
    policies:                         # firewall node -> nftables or iptables-save file
      fw-inside: policies/inside-3478-udp-only.nft
    faults:                           # what breaks while the call runs
      - loss: {segment: internet, percent: 5}
      - cut: {link: "sfb-edge:external", at: "cms:answered"}
      - stop: {node: cms, at: "cms:invite"}
    time_scale: 0.1                   # long protocol timers run 10 times faster (reported)
    media: {seconds: 1.0}             # media both ways for this long, then CMS hangs up
    limits: {setup_seconds: 15}       # share -> media both ways
    expect:
      verdict: fail                   # pass: all 33 steps in order and the call completed
      stopped_at: 9                   # the step where the ladder must stop
      diagnosis: ["401 Unauthorized"] # words the diagnosis (computed from the capture) must say

The scenario states what must be *reported*; the report itself is computed from the capture
(:mod:`lab.ladder`, :mod:`lab.run.diagnose`), never copied from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from lab.base.datafile import Deferred, Invalid
from lab.topology import Topology
from lab.topology.roles import ROLES

MAX_MEDIA_SECONDS = 600.0

#: The events each daemon role reports (:mod:`lab.topology.events`, by the role registry):
#: what a fault may wait for.
DAEMON_EVENTS: dict[str, tuple[str, ...]] = {r.name: r.events for r in ROLES.values()
                                             if r.events}


@dataclass(frozen=True)
class MediaSpec:
    """How long the share's media runs once it flows both ways."""

    seconds: float = field(default=1.0, metadata={"doc": "seconds of media both ways"})

    def __post_init__(self) -> None:
        if not 0 < self.seconds <= MAX_MEDIA_SECONDS:
            raise Invalid("seconds", f"media.seconds must be more than 0 and at most "
                          f"{MAX_MEDIA_SECONDS:g}", fix=f"write a number of seconds such as "
                          f"0.5 (at most {MAX_MEDIA_SECONDS:g})")


@dataclass(frozen=True)
class Limits:
    """Time limits of the run's phases (seconds)."""

    setup_seconds: float = 15.0  # the share command to media both ways
    hangup_seconds: float = 10.0  # BYE to its 200 OK

    def __post_init__(self) -> None:
        for name in ("setup_seconds", "hangup_seconds"):
            if not 0 < getattr(self, name) <= 3600:
                raise Invalid(name, f"limits.{name} must be more than 0 and at most 3600",
                              fix="write a number of seconds such as 3 (at most 3600)")


@dataclass(frozen=True)
class Trigger:
    """``NODE:EVENT``: the moment ``NODE``'s daemon reports ``EVENT`` (e.g. ``cms:answered``)."""

    node: str
    event: str

    WANTED = "NODE:EVENT such as cms:answered"

    @classmethod
    def from_text(cls, text: str) -> Trigger:
        node, sep, event = text.partition(":")
        if not sep or not node or not event:
            raise ValueError("write the node, a colon and the event")
        return cls(node.strip(), event.strip())

    def __str__(self) -> str:
        return f"{self.node}:{self.event}"


@dataclass(frozen=True)
class LossFault:
    """Packet loss on a segment, by an nftables rule in the segment's bridge (or, for a veth
    segment, at both ends): ``percent`` of the packets are dropped, evenly spread (one in
    100/percent, reproducible) unless ``random``."""

    segment: str
    percent: float
    random: bool = False
    at: Trigger | None = None

    def __post_init__(self) -> None:
        if not 0 < self.percent <= 50:
            raise Invalid("percent", "loss.percent must be more than 0 and at most 50",
                          fix="write a percentage such as 5 (at most 50)")


@dataclass(frozen=True)
class CutFault:
    """A link cut: interface ``link`` (``node:interface``) goes down (its peer loses carrier)."""

    link: str
    at: Trigger | None = None

    def __post_init__(self) -> None:
        node, sep, iface = self.link.partition(":")
        if not sep or not node or not iface:
            raise Invalid("link", "cut.link must be node:interface",
                          fix="write a node and one of its interfaces such as sfb-edge:external")


@dataclass(frozen=True)
class StopFault:
    """A node stopped: its daemon is killed (SIGKILL) at a named step."""

    node: str
    at: Trigger | None = None


@dataclass(frozen=True)
class FaultSpec:
    """One fault: exactly one of ``loss``, ``cut``, ``stop``. Without ``at`` it acts when the
    share starts."""

    loss: LossFault | None = None
    cut: CutFault | None = None
    stop: StopFault | None = None

    def __post_init__(self) -> None:
        given = [k for k in ("loss", "cut", "stop") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a fault is exactly one of loss, cut, stop "
                             f"(found {', '.join(given) or 'none'})")

    @property
    def kind(self) -> LossFault | CutFault | StopFault:
        kind = self.loss or self.cut or self.stop
        assert kind is not None  # __post_init__
        return kind


@dataclass(frozen=True)
class Expect:
    """What must come out. ``verdict: pass`` means every step of flow.md §3 in order with the
    right values and the call completed; ``stopped_at`` is the step where the ladder must stop
    (with ``verdict: fail``); ``diagnosis`` lists words each of which the run's diagnosis must
    contain (case does not matter)."""

    verdict: Literal["pass", "fail"] = "pass"
    stopped_at: int | None = None
    diagnosis: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.stopped_at is not None and not 1 <= self.stopped_at <= 33:
            raise Invalid("stopped_at", "expect.stopped_at must be a step of flow.md §3 "
                          "(1-33)", fix="write the number of the step where the ladder must "
                          "stop, 1 to 33 (uclab scenarios shows those of the library)")
        if self.stopped_at is not None and self.verdict == "pass":
            raise Invalid("stopped_at", "expect.stopped_at needs verdict: fail (a passing "
                          "ladder does not stop)", fix="write verdict: fail, or remove "
                          "stopped_at")
        if any(not words.strip() for words in self.diagnosis):
            raise Invalid("diagnosis", "expect.diagnosis: every entry must have words in it",
                          fix="remove the empty entry, or write the words the diagnosis "
                          "must say")


@dataclass(frozen=True)
class ScenarioFile:
    """The file as written."""

    name: str
    description: str
    topology: str = "sfb-cms-expressway"
    overrides: dict[str, Deferred] = field(default_factory=dict)
    policies: dict[str, Path] = field(default_factory=dict)
    faults: tuple[FaultSpec, ...] = ()
    time_scale: float = 1.0
    media: MediaSpec = field(default_factory=MediaSpec)
    limits: Limits = field(default_factory=Limits)
    expect: Expect = field(default_factory=Expect)


@dataclass(frozen=True)
class Scenario:
    """A loaded scenario: the file's values with its topology read, validated and overridden."""

    name: str
    description: str
    path: Path
    topology: Topology  # with the overrides applied
    media: MediaSpec
    limits: Limits
    expect: Expect
    policies: dict[str, Path] = field(default_factory=dict)
    faults: tuple[FaultSpec, ...] = ()
    time_scale: float = 1.0
    overridden: tuple[str, ...] = ()  # the nodes whose settings the scenario changed
