"""Finding and reading scenario files: ``uclab run NAME`` (``scenarios/NAME.yaml``) or a path.

Every mistake is an :class:`~lab.errors.InputError` naming the file, the line and the fix,
before anything is built.
"""

from __future__ import annotations

from pathlib import Path

from lab import datafile, topology
from lab.errors import InputError
from lab.scenario.model import Scenario, ScenarioFile

SCENARIO_DIR = Path(__file__).resolve().parent.parent.parent / "scenarios"


def resolve(spec: str | Path) -> Path:
    """A scenario given as a path or as the name of ``scenarios/<name>.yaml``."""
    p = Path(spec)
    if p.suffix in (".yaml", ".yml") or "/" in str(spec):
        return p
    candidate = SCENARIO_DIR / f"{spec}.yaml"
    if not candidate.exists():
        raise InputError(f"no scenario named {spec!r}", "SCENARIO",
                         fix="give a file path or one of: " + ", ".join(names()))
    return candidate


def names() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def load(spec: str | Path) -> Scenario:
    """Read and validate a scenario and its topology."""
    doc = datafile.load(resolve(spec))
    raw = doc.read(ScenarioFile)
    topo_spec: str | Path = raw.topology
    if raw.topology.endswith((".yaml", ".yml")) or "/" in raw.topology:
        topo_spec = (doc.path.parent / raw.topology).resolve()
    try:
        path = topology.resolve(topo_spec)
    except InputError as exc:
        raise doc.error(("topology",), exc.message, fix=exc.fix) from None
    if not path.exists():
        raise doc.error(("topology",), f"topology file {path} not found",
                        fix="write a name under topologies/ or a path relative to this file")
    topo = topology.load(path)
    return Scenario(raw.name, raw.description, doc.path, topo, raw.media, raw.limits,
                    raw.expect)
