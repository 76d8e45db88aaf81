"""Scenario files: what ``uclab run`` builds, changes, breaks and expects (``scenarios/*.yaml``).

    from lab import scenario
    sc = scenario.load("screen-share")        # or a path; strict: file, line, fix
    sc.topology (overrides applied), sc.policies, sc.faults, sc.time_scale, sc.expect
    scenario.names()                          # the library, for `uclab scenarios`
    scenario.with_faults(sc, ["cut: {link: sfb-edge:external, at: cms:answered}"])  # --fault
"""

from lab.scenario.definition import (
    DAEMON_EVENTS,
    CutFault,
    Expect,
    FaultSpec,
    Limits,
    LossFault,
    MediaSpec,
    Scenario,
    ScenarioFile,
    StopFault,
    Trigger,
)
from lab.scenario.load import SCENARIO_DIR, load, names, resolve, with_faults

__all__ = ["DAEMON_EVENTS", "SCENARIO_DIR", "CutFault", "Expect", "FaultSpec", "Limits",
           "LossFault", "MediaSpec", "Scenario", "ScenarioFile", "StopFault", "Trigger", "load",
           "names", "resolve", "with_faults"]
