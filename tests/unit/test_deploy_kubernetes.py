"""deploy/kubernetes checked offline (no cluster here): every rendered manifest validated
against Kubernetes 1.34's API schemas (kubernetes-validate, strict: an unknown field is an
error), the rules the API server adds that a schema cannot say, the pieces agreeing with each
other (shards, seats, tokens, probes), and the classroom overlay made by seats.py for 3 and 300
seats. Where kubectl is installed, the real kustomize renders the same objects."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from tests.deployhelp import DEPLOY, KUBERNETES, ROOTS, SEATS_PY, container, find, rendered
from tests.kustomize import Obj, kubectl_render, pod_spec, render

LAB_CAPS = {"NET_ADMIN", "SYS_ADMIN", "NET_RAW", "NET_BIND_SERVICE", "SETGID"}


def make_class(tmp_path: Path, n: int, *extra: str) -> Path:
    out = tmp_path / f"class{n}"
    proc = subprocess.run([sys.executable, str(SEATS_PY), "--seats", str(n), "--out", str(out),
                           *extra], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return out


def all_renderings(tmp_path: Path) -> dict[str, list[Obj]]:
    out = {root: rendered(root) for root in ROOTS}
    for n in (3, 300):
        out[f"class of {n}"] = render(make_class(tmp_path, n, "--secret", "--host",
                                                 "class.example.org"))
    return out


def pods(objs: list[Obj]) -> list[tuple[Obj, dict[str, Any]]]:
    return [(o, spec) for o in objs if (spec := pod_spec(o)) is not None]


def _one_of_each_shape(objs: list[Obj]) -> list[Obj]:
    """The seats' Services differ by their names only: the first three stand for them all."""
    services = [o for o in objs if o["kind"] == "Service" and "uclab/seat" in
                o["metadata"].get("labels", {})]
    return [o for o in objs if o not in services[3:]]


def test_every_manifest_is_valid_for_the_pinned_kubernetes(tmp_path: Path) -> None:
    count = 0
    for root, objs in all_renderings(tmp_path).items():
        assert objs, root
        for obj in _one_of_each_shape(objs):
            try:
                kubernetes_validate.validate(obj, KUBERNETES, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{root}: {obj['kind']} {obj['metadata']['name']}: {exc.message}")
            count += 1
    assert count >= 4 * 2 + 2 * 8


def test_a_wrong_field_is_caught_by_the_validator() -> None:
    job = find(rendered("ci-farm/shards"), "Job", "uclab-shards")
    job["spec"]["template"]["spec"]["containers"][0]["securityContext"]["procmount"] = "Unmasked"
    with pytest.raises(kubernetes_validate.ValidationError, match="procmount"):
        kubernetes_validate.validate(job, KUBERNETES, strict=True)


def test_the_api_servers_own_rules_and_the_narrowest_context(tmp_path: Path) -> None:
    """What the API server refuses beyond the schema, and the lab's context being one and the
    same wherever a lab runs (the Docker tests run that one)."""
    lab_contexts = []
    for root, objs in all_renderings(tmp_path).items():
        for obj, spec in pods(objs):
            where = f"{root}: {obj['kind']} {obj['metadata']['name']}"
            assert spec.get("automountServiceAccountToken") is False, where
            for c in spec["containers"]:
                sc = c["securityContext"]
                caps = set(sc["capabilities"].get("add", []))
                assert sc["capabilities"]["drop"] == ["ALL"], where
                assert not sc.get("privileged"), where
                if sc.get("procMount") == "Unmasked":  # needs a user namespace
                    assert spec.get("hostUsers") is False, where
                if "SYS_ADMIN" in caps:  # the API server refuses the pair
                    assert sc.get("allowPrivilegeEscalation") is not False, where
                if caps:
                    lab_contexts.append((where, sc))
                res = c["resources"]
                for kind in ("cpu", "memory"):
                    assert _quantity(res["requests"][kind]) <= _quantity(res["limits"][kind]), where
    assert {w.split(":")[0] for w, _ in lab_contexts} >= {"ci-farm/shards", "ci-farm/firewall",
                                                         "classroom/example"}
    first = lab_contexts[0][1]
    assert set(first["capabilities"]["add"]) == LAB_CAPS
    for where, sc in lab_contexts:
        assert sc == first, where


def _quantity(text: str) -> float:
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    for suffix, factor in units.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


@pytest.mark.parametrize("root", ["ci-farm/shards", "ci-farm/firewall"])
def test_indexed_jobs_agree_with_themselves(root: str) -> None:
    [job] = [o for o in rendered(root) if o["kind"] == "Job"]
    spec, pod = job["spec"], job["spec"]["template"]["spec"]
    c = pod["containers"][0]
    shards = int(next(e["value"] for e in c["env"] if e["name"] == "SHARDS"))
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == shards
    assert pod["restartPolicy"] == "Never"  # podFailurePolicy needs it
    for rule in spec["podFailurePolicy"]["rules"]:
        if "onExitCodes" in rule:
            assert rule["onExitCodes"]["containerName"] == c["name"]
    script = c["args"][0]
    assert "$((JOB_COMPLETION_INDEX + 1))" in script and '--shard "$k/$SHARDS"' in script
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    assert "/results" in mounts and f"--junit \"/results/{'firewall/' * ('firewall' in root)}" \
        f"shard-$k.xml\"" in script
    assert c["image"] == "uclab:runtime"


def test_the_merge_step_reads_what_the_shards_write() -> None:
    shards = container(find(rendered("ci-farm/shards"), "Job", "uclab-shards"), "shard")
    merge = container(find(rendered("ci-farm/merge"), "Job", "uclab-merge"), "merge")
    assert '--junit "/results/shard-$k.xml"' in shards["args"][0]
    assert merge["args"] == ["exec uclab junit merge /results/merged.xml /results/shard-*.xml"]
    assert merge["securityContext"]["readOnlyRootFilesystem"] is True


@pytest.mark.parametrize("n", [3, 300])
def test_the_class_has_a_service_a_path_and_a_token_per_seat(tmp_path: Path, n: int) -> None:
    out = make_class(tmp_path, n, "--secret")
    objs = render(out)
    sts = find(objs, "StatefulSet", "uclab-seat")
    assert sts["spec"]["replicas"] == n
    seats = [f"uclab-seat-{k}" for k in range(n)]
    services = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Service"}
    for seat in seats:
        sel = services[seat]["spec"]["selector"]
        assert sel["statefulset.kubernetes.io/pod-name"] == seat
        assert all(sts["spec"]["template"]["metadata"]["labels"][k] == v
                   for k, v in sel.items() if k != "statefulset.kubernetes.io/pod-name")
    [ing] = [o for o in objs if o["kind"] == "Ingress"]
    backends = [p["backend"]["service"]["name"] for p in ing["spec"]["rules"][0]["http"]["paths"]]
    assert backends == seats
    secret = find(objs, "Secret", "uclab-seat-tokens")
    tokens = secret["stringData"]
    assert sorted(tokens) == sorted(seats) and len(set(tokens.values())) == n
    assert all(len(t) >= 22 for t in tokens.values())  # 128 bits, url-safe base64
    for f in ("secret.yaml", "urls.txt"):
        assert stat.S_IMODE((out / f).stat().st_mode) == 0o600
    urls = (out / "urls.txt").read_text().splitlines()
    assert [u.split(":")[0] for u in urls] == seats and tokens[seats[0]] in urls[0]
    assert {o["metadata"].get("namespace") for o in objs if o["kind"] != "Namespace"} == {
        "uclab-class"}


def test_a_seat_reads_its_own_token_and_is_probed() -> None:
    sts = find(rendered("classroom/example"), "StatefulSet", "uclab-seat")
    pod = sts["spec"]["template"]["spec"]
    c = container(sts, "serve")
    args = c["args"]
    assert args[:2] == ["serve", "--listen"] and args[2].endswith(":8080")
    token_file = args[args.index("--token-file") + 1]
    env = {e["name"]: e for e in c["env"]}
    assert token_file.endswith("/$(POD_NAME)")
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    [mount] = [m for m in c["volumeMounts"] if token_file.startswith(m["mountPath"] + "/")]
    [vol] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert vol["secret"]["secretName"] == "uclab-seat-tokens" and mount["readOnly"]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"http": 8080}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"] == {"path": "/", "port": "http"}, probe


def test_the_committed_example_is_what_seats_py_makes(tmp_path: Path) -> None:
    out = make_class(tmp_path, 3)
    for name in ("seats.yaml",):
        assert (out / name).read_text() == (DEPLOY / "classroom" / "example" / name).read_text()
    assert render(out) == rendered("classroom/example")


def test_seats_py_refuses_a_bad_count(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(SEATS_PY), "--seats", "0", "--out",
                           str(tmp_path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "--seats 0: from 1 to 1000" in proc.stderr


def _key(o: Obj) -> tuple[str, str]:
    return o["kind"], o["metadata"]["name"]


@pytest.mark.parametrize("root", ROOTS)
def test_kustomize_itself_renders_the_same(root: str) -> None:
    real = kubectl_render(DEPLOY / root)
    if real is None:
        pytest.skip("kubectl is not installed: only this suite's renderer was checked")
    ours = rendered(root)
    assert sorted(map(_key, real)) == sorted(map(_key, ours))
    by_key = {_key(o): o for o in ours}
    for obj in real:
        assert obj == by_key[_key(obj)], _key(obj)
