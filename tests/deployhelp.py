"""The manifests of deploy/kubernetes, rendered (tests/kustomize.py), and their pods' specs: for
the offline validation and for the tests that start what a pod spec says with ``docker run``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.kustomize import Obj, pod_spec, render

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy" / "kubernetes"
SEATS_PY = DEPLOY / "classroom" / "seats.py"
#: the Kubernetes version whose API schemas the manifests are validated against
KUBERNETES = "1.34.0"
#: every folder of deploy/kubernetes that `kubectl apply -k` takes
ROOTS = ("ci-farm/shards", "ci-farm/merge", "ci-farm/firewall", "classroom/example")


def rendered(root: str) -> list[Obj]:
    return render(DEPLOY / root)


def find(objs: list[Obj], kind: str, name: str) -> Obj:
    [obj] = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    return obj


def container(obj: Obj, name: str) -> dict[str, Any]:
    spec = pod_spec(obj)
    assert spec is not None
    [c] = [c for c in spec["containers"] if c["name"] == name]
    return dict(c)
