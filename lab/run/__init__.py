"""The run engine behind ``uclab run``: lab, capture, call, ladder, verdict (see engine.py).

    from lab import scenario
    from lab.run import RunOptions, RunPlan, run
    result = run(RunPlan.of(scenario.load("screen-share")), RunOptions(lab="uclab"))
    result.passed, result.unmet, result.ladder, result.outcome, result.timings
"""

from lab.run.call import CallDriver, CallOutcome
from lab.run.engine import RunOptions, RunPlan, RunResult, SetupError, run
from lab.run.faults import Fault, KillDaemon

# lab.run.expect (expected_values, ladder_names, judge) is imported where it is used: it pulls
# in the ladder, which the engine imports in the background while the lab is built.
__all__ = ["CallDriver", "CallOutcome", "Fault", "KillDaemon", "RunOptions", "RunPlan",
           "RunResult", "SetupError", "run"]
