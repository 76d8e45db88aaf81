"""The run engine behind ``uclab run``: lab, capture, call, ladder, diagnosis, verdict.

    from lab import scenario
    from lab.run import RunOptions, RunPlan, run
    result = run(RunPlan.of(scenario.load("screen-share")), RunOptions(lab="uclab"))
    result.passed, result.unmet, result.ladder, result.diagnosis, result.outcome, result.timings

``RunPlan.of(scenario)`` carries the scenario's overrides, policies, faults
(:mod:`lab.run.faults`) and time scale; :func:`run_built` runs the call in a lab the caller
built (the firewall check).
"""

from lab.run.call import CallDriver, CallOutcome
from lab.run.engine import RunOptions, RunPlan, RunResult, SetupError, run, run_built
from lab.run.faults import Fault, KillDaemon, LinkCut, PacketLoss, faults_for

# lab.run.expect (expected_values, ladder_names, judge) and lab.run.diagnose are imported where
# they are used: they pull in the ladder, which the engine imports in the background while the
# lab is built.
__all__ = ["CallDriver", "CallOutcome", "Fault", "KillDaemon", "LinkCut", "PacketLoss",
           "RunOptions", "RunPlan", "RunResult", "SetupError", "faults_for", "run", "run_built"]
