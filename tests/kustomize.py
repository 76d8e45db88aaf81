"""A renderer of the small part of kustomize that ``deploy/kubernetes`` uses: ``resources``
(files and folders with their own kustomization.yaml), ``namespace``, ``images`` and
``replicas``. Any other field of a kustomization is an error, so a manifest that starts using
more of kustomize fails here instead of being rendered wrong. Where ``kubectl`` is installed,
the tests also render with ``kubectl kustomize`` (the real kustomize) and compare.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

Obj = dict[str, Any]
KNOWN = {"apiVersion", "kind", "namespace", "resources", "images", "replicas"}
CLUSTER_SCOPED = {"Namespace"}


def load_docs(path: Path) -> list[Obj]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def render(folder: Path) -> list[Obj]:
    k = yaml.safe_load((folder / "kustomization.yaml").read_text())
    unknown = set(k) - KNOWN
    if unknown:
        raise ValueError(f"{folder}/kustomization.yaml: fields this renderer does not know: "
                         f"{sorted(unknown)}")
    objs: list[Obj] = []
    for res in k.get("resources", []):
        path = (folder / res).resolve()
        objs += render(path) if path.is_dir() else load_docs(path)
    for obj in objs:
        if "namespace" in k and obj["kind"] not in CLUSTER_SCOPED:
            obj["metadata"]["namespace"] = k["namespace"]
        for image in k.get("images", []):
            _set_image(obj, image)
    for rep in k.get("replicas", []):
        matches = [o for o in objs if o["metadata"]["name"] == rep["name"]
                   and "replicas" in o.get("spec", {})]
        if len(matches) != 1:
            raise ValueError(f"{folder}: replicas of {rep['name']}: {len(matches)} objects")
        matches[0]["spec"]["replicas"] = rep["count"]
    return objs


def pod_spec(obj: Obj) -> Obj | None:
    spec = obj.get("spec", {})
    if obj["kind"] == "Pod":
        return dict(spec)
    template = spec.get("template", {})
    inner = template.get("spec")
    return inner if isinstance(inner, dict) else None


def _set_image(obj: Obj, image: Obj) -> None:
    spec = pod_spec(obj)
    if spec is None:
        return
    for c in [*spec.get("containers", []), *spec.get("initContainers", [])]:
        name, _, _tag = c["image"].partition(":")
        if name == image["name"]:
            c["image"] = f"{image.get('newName', name)}:{image.get('newTag', _tag or 'latest')}"


def kubectl_render(folder: Path) -> list[Obj] | None:
    """``kubectl kustomize FOLDER`` (offline), or None when kubectl is not installed."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return None
    out = subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    return [d for d in yaml.safe_load_all(out) if d is not None]
