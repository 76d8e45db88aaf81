"""Make a classroom overlay of N seats: a Service and an Ingress path per seat, the StatefulSet's
replica count, and (with --secret) the seats' tokens as a Secret with the list of seat URLs.

    python3 deploy/kubernetes/classroom/seats.py --seats 300 --host class.example.org \\
        --out my-class --secret
    kubectl apply -k my-class           # then hand out my-class/urls.txt, one line per trainee

Kustomize has no loop, and a seat needs objects of its own (the Service that the Ingress path of
that seat points to, selecting the one pod by its StatefulSet pod-name label), so this script
writes them; everything else is the plain manifests of ``base/``. The output without ``--secret``
depends only on the arguments (``example/`` is its output for 3 seats). Tokens come from
:mod:`secrets` (128 bits) and are written with mode 0600, never to the kustomization's folder
unless asked.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path
from typing import Any

import yaml

BASE = Path(__file__).resolve().parent / "base"
STATEFULSET = "uclab-seat"
SECRET_NAME = "uclab-seat-tokens"  # noqa: S105 - the Secret object's name, not a secret
NAMESPACE = "uclab-class"
PORT = 8080
MAX_SEATS = 1000
LABELS = {"app.kubernetes.io/name": "uclab", "app.kubernetes.io/component": "seat"}
HEADER = ("# Made by deploy/kubernetes/classroom/seats.py (--seats {n}{host}): "
          "do not edit, run it again.\n")


def seat_names(n: int) -> list[str]:
    return [f"{STATEFULSET}-{k}" for k in range(n)]


def service(name: str) -> dict[str, Any]:
    """The Service of one seat: exactly its pod (the StatefulSet's pod-name label)."""
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "labels": {**LABELS, "uclab/seat": name}},
            "spec": {"selector": {**LABELS, "statefulset.kubernetes.io/pod-name": name},
                     "ports": [{"name": "http", "port": PORT, "targetPort": "http"}]}}


def ingress(names: list[str], host: str | None) -> dict[str, Any]:
    """One path per seat, /SEAT/..., passed to that seat's serve without its prefix
    (ingress-nginx's regex paths and rewrite-target); serve's pages use relative URLs."""
    paths = [{"path": f"/{name}(/|$)(.*)", "pathType": "ImplementationSpecific",
              "backend": {"service": {"name": name, "port": {"name": "http"}}}}
             for name in names]
    rule: dict[str, Any] = {"http": {"paths": paths}}
    if host:
        rule["host"] = host
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "uclab-seats", "labels": LABELS,
                         "annotations": {"nginx.ingress.kubernetes.io/use-regex": "true",
                                         "nginx.ingress.kubernetes.io/rewrite-target": "/$2"}},
            "spec": {"ingressClassName": "nginx", "rules": [rule]}}


def secret(tokens: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": SECRET_NAME, "labels": LABELS}, "stringData": tokens}


def kustomization(out: Path, n: int, with_secret: bool) -> dict[str, Any]:
    resources = [os.path.relpath(BASE, out.resolve()), "seats.yaml"]
    if with_secret:
        resources.append("secret.yaml")
    return {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "namespace": NAMESPACE, "resources": resources,
            "replicas": [{"name": STATEFULSET, "count": n}]}


def dump(docs: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False, default_flow_style=False)


def write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def make(out: Path, n: int, host: str | None, with_secret: bool) -> list[str]:
    """Write the overlay; the seats' URLs when tokens were made."""
    names = seat_names(n)
    out.mkdir(parents=True, exist_ok=True)
    head = HEADER.format(n=n, host=f" --host {host}" if host else "")
    (out / "kustomization.yaml").write_text(head + dump([kustomization(out, n, with_secret)]))
    (out / "seats.yaml").write_text(head + dump([*map(service, names), ingress(names, host)]))
    if not with_secret:
        return []
    tokens = {name: secrets.token_urlsafe(16) for name in names}
    write_private(out / "secret.yaml", head + dump([secret(tokens)]))
    base = f"https://{host}" if host else "http://INGRESS-ADDRESS"
    urls = [f"{name}: {base}/{name}/seat/1?token={tok}" for name, tok in tokens.items()]
    write_private(out / "urls.txt", "\n".join(urls) + "\n")
    return urls


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seats", type=int, required=True, help=f"1 to {MAX_SEATS}")
    ap.add_argument("--host", default=None, help="the Ingress host name (default: any)")
    ap.add_argument("--out", type=Path, required=True, help="the overlay's folder")
    ap.add_argument("--secret", action="store_true",
                    help="also make the seats' tokens: OUT/secret.yaml and OUT/urls.txt (0600)")
    args = ap.parse_args(argv)
    if not 1 <= args.seats <= MAX_SEATS:
        print(f"seats.py: --seats {args.seats}: from 1 to {MAX_SEATS}", file=sys.stderr)
        return 2
    urls = make(args.out, args.seats, args.host, args.secret)
    print(f"{args.out}: {args.seats} seats; apply with kubectl apply -k {args.out}"
          + (f"; seat URLs in {args.out / 'urls.txt'}" if urls else
             "; the Secret uclab-seat-tokens is yours to make (or run again with --secret)"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
