"""Scenario files: what ``uclab run`` builds, runs and expects (``scenarios/*.yaml``).

    from lab import scenario
    sc = scenario.load("screen-share")        # or a path; strict: file, line, fix
    sc.topology, sc.media.seconds, sc.limits.setup_seconds, sc.expect.verdict
"""

from lab.scenario.load import SCENARIO_DIR, load, names, resolve
from lab.scenario.model import Expect, Limits, MediaSpec, Scenario, ScenarioFile

__all__ = ["SCENARIO_DIR", "Expect", "Limits", "MediaSpec", "Scenario", "ScenarioFile", "load",
           "names", "resolve"]
