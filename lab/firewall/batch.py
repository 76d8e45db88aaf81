"""``uclab firewall check --batch DIR``: a folder of policies judged pair by pair.

The folder holds the policy files and a manifest, ``DIR/pairs.yaml``, naming the pairs (each
check loads one policy per firewall, so a pair is what one lab judges)::

    pairs:
      realistic:                          # the pair's name: its report files are named after it
        policies:                         # firewall node -> policy file (relative to DIR)
          fw-outside: outside-realistic.iptables
          fw-inside: inside-correct.iptables
        expect: pass                      # optional: pass / fail; without it the pair must pass

A pair holds when its verdict is the one expected. The summary (:func:`summary_json`,
:func:`summary_junit`) has one entry per pair; each pair's own report is the one a single
``uclab firewall check`` writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lab.base import datafile, junit
from lab.base.errors import InputError

MANIFEST = "pairs.yaml"
Verdict = Literal["pass", "fail"]


@dataclass(frozen=True)
class PairFile:
    policies: dict[str, Path]
    expect: Verdict | None = None
    description: str = ""


@dataclass(frozen=True)
class BatchFile:
    pairs: dict[str, PairFile] = field(metadata={"doc": "pair name -> its policies"})


@dataclass(frozen=True)
class Pair:
    name: str
    policies: dict[str, Path]
    expect: Verdict
    description: str = ""


@dataclass
class PairResult:
    """One pair's verdict, or the error that stopped its check."""

    pair: Pair
    verdict: Verdict | None = None
    first_broken_step: str | None = None
    error: str | None = None
    seconds: float = 0.0
    reports: dict[str, str] = field(default_factory=dict)  # "json"/"junit" -> file written

    @property
    def holds(self) -> bool:
        return self.error is None and self.verdict == self.pair.expect


def load(folder: Path) -> list[Pair]:
    """The pairs of ``folder/pairs.yaml``, strictly: a missing file is named at its line."""
    path = folder / MANIFEST
    if not folder.is_dir():
        raise InputError("no such folder", folder, fix="give the folder of the policies")
    if not path.is_file():
        raise InputError(f"no {MANIFEST} in the folder", folder,
                         fix=f"write {path} naming the pairs (see docs/firewall.md)")
    doc = datafile.load(path)
    raw = doc.read(BatchFile)
    if not raw.pairs:
        raise doc.error(("pairs",), "no pairs", fix="name at least one pair")
    out = []
    for name, p in raw.pairs.items():
        if not p.policies:
            raise doc.error(("pairs", name, "policies"), "no policy",
                            fix="name one file per firewall, e.g. fw-outside: out.nft")
        for node, file in p.policies.items():
            if not file.is_file():
                raise doc.error(("pairs", name, "policies", node), f"no such file: {file}",
                                fix="give a policy file of this folder")
        out.append(Pair(name, dict(p.policies), p.expect or "pass", p.description))
    return out


def summary_json(results: list[PairResult], shard: str | None = None) -> dict[str, Any]:
    return {
        "shard": shard,
        "pairs": [{"pair": r.pair.name, "description": r.pair.description,
                   "policies": {n: str(f) for n, f in r.pair.policies.items()},
                   "expected": r.pair.expect, "verdict": r.verdict, "holds": r.holds,
                   "first_broken_step": r.first_broken_step, "error": r.error,
                   "seconds": round(r.seconds, 3), "reports": r.reports} for r in results],
        "held": sum(r.holds for r in results),
        "total": len(results),
    }


def summary_junit(results: list[PairResult], shard: str | None = None) -> str:
    """JUnit XML: one test case per pair (failure: the verdict was not the one expected)."""
    cases = []
    for r in results:
        failure = None
        if r.error is None and not r.holds:
            failure = f"expected {r.pair.expect}, got {r.verdict}"
            if r.first_broken_step:
                failure += f" (first broken step {r.first_broken_step})"
        policies = ", ".join(f"{n}={f.name}" for n, f in r.pair.policies.items())
        out = (f"{policies}: verdict {r.verdict}, expected {r.pair.expect}"
               + "".join(f"\n{k}: {v}" for k, v in r.reports.items()))
        cases.append(junit.Case("firewall.batch", r.pair.name, r.seconds, error=r.error,
                                failure=failure, failure_type="verdict", out=out))
    return junit.suite_xml("uclab firewall batch", cases, shard)
