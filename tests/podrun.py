"""A Kubernetes pod spec's container as the equivalent ``docker run``: what the kubelet would
start, started here by the real Docker engine.

    argv = DockerRun(spec, "shard", name="h16ci1", pod_name="uclab-shards-1",
                     env={"JOB_COMPLETION_INDEX": "1"},  # what the Job controller adds
                     volumes={"results": tmp}).argv(image="uclab:runtime")

Translated: the image, ``command`` (``--entrypoint`` and its arguments) and ``args``, with
Kubernetes' ``$(VAR)`` expansion; ``env`` (values, and ``fieldRef: metadata.name``); the
security context (capabilities, seccomp, AppArmor, ``procMount: Unmasked`` as
``systempaths=unconfined``, ``readOnlyRootFilesystem``, ``allowPrivilegeEscalation: false``,
``runAsUser``/``runAsGroup``); ``resources.limits`` (``--cpus``, ``--memory``); volumes:
``emptyDir`` as a tmpfs, others (claims, Secrets, ConfigMaps) as a folder the test gives. The
container gets no network of Docker's (``--network none``): in a cluster it has the pod's.

Not translatable, and listed in :attr:`DockerRun.not_reproduced`: ``hostUsers: false`` (Docker
has user namespaces only engine-wide). Any other field the translator does not know is an error,
so a manifest cannot grow a setting that this test silently leaves out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONTAINER_KEYS = {"name", "image", "command", "args", "env", "resources", "securityContext",
                  "volumeMounts", "ports", "startupProbe", "readinessProbe", "livenessProbe"}
POD_KEYS = {"containers", "volumes", "restartPolicy", "hostUsers",
            "automountServiceAccountToken", "enableServiceLinks",
            "terminationGracePeriodSeconds"}
CONTEXT_KEYS = {"capabilities", "seccompProfile", "appArmorProfile", "procMount", "runAsUser",
                "runAsGroup", "readOnlyRootFilesystem", "allowPrivilegeEscalation"}
_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion of command and args (an unknown one stays as written)."""
    return _VAR.sub(lambda m: env.get(m.group(1), m.group(0)), text)


def _unknown(where: str, given: dict[str, Any], known: set[str]) -> None:
    extra = set(given) - known
    if extra:
        raise ValueError(f"{where}: fields the docker run translation does not know: "
                         f"{sorted(extra)}")


@dataclass
class DockerRun:
    spec: dict[str, Any]
    container: str
    name: str
    pod_name: str
    env: dict[str, str] = field(default_factory=dict)  # what Kubernetes itself adds
    volumes: dict[str, Path] = field(default_factory=dict)  # non-emptyDir volume -> folder
    labels: dict[str, str] = field(default_factory=dict)
    not_reproduced: list[str] = field(default_factory=list)

    def _c(self) -> dict[str, Any]:
        _unknown("pod spec", self.spec, POD_KEYS)
        [c] = [c for c in self.spec["containers"] if c["name"] == self.container]
        _unknown(f"container {self.container}", c, CONTAINER_KEYS)
        return dict(c)

    def environment(self) -> dict[str, str]:
        out = dict(self.env)
        for e in self._c().get("env", []):
            if "value" in e:
                out[e["name"]] = expand(e["value"], out)
            elif e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name":
                out[e["name"]] = self.pod_name
            else:
                raise ValueError(f"env {e['name']}: only values and metadata.name are translated")
        return out

    def security(self) -> list[str]:
        sc = self._c().get("securityContext", {})
        _unknown("securityContext", sc, CONTEXT_KEYS)
        out: list[str] = []
        caps = sc.get("capabilities", {})
        out += [f"--cap-drop={c}" for c in caps.get("drop", [])]
        out += [f"--cap-add={c}" for c in caps.get("add", [])]
        seccomp = sc.get("seccompProfile", {}).get("type", "RuntimeDefault")
        if seccomp == "Unconfined":
            out.append("--security-opt=seccomp=unconfined")
        elif seccomp != "RuntimeDefault":
            raise ValueError(f"seccompProfile {seccomp}: not translated")
        apparmor = sc.get("appArmorProfile", {}).get("type", "RuntimeDefault")
        if apparmor == "Unconfined":
            out.append("--security-opt=apparmor=unconfined")
        elif apparmor != "RuntimeDefault":
            raise ValueError(f"appArmorProfile {apparmor}: not translated")
        if sc.get("procMount") == "Unmasked":
            out.append("--security-opt=systempaths=unconfined")
        if sc.get("readOnlyRootFilesystem"):
            out.append("--read-only")
        if sc.get("allowPrivilegeEscalation") is False:
            out.append("--security-opt=no-new-privileges")
        if "runAsUser" in sc:
            out.append(f"--user={sc['runAsUser']}:{sc.get('runAsGroup', sc['runAsUser'])}")
        if self.spec.get("hostUsers") is False:
            self.not_reproduced.append("hostUsers: false (Docker's user namespaces are "
                                       "engine-wide: the container's root is the host's here)")
        return out

    def limits(self) -> list[str]:
        lim = self._c().get("resources", {}).get("limits", {})
        out = []
        if "cpu" in lim:
            cpu = lim["cpu"]
            out.append(f"--cpus={float(cpu[:-1]) / 1000 if cpu.endswith('m') else float(cpu)}")
        if "memory" in lim:
            mem = lim["memory"]
            units = {"Mi": "m", "Gi": "g"}
            out.append(f"--memory={mem[:-2]}{units[mem[-2:]]}")
        return out

    def mounts(self) -> list[str]:
        vols = {v["name"]: v for v in self.spec.get("volumes", [])}
        out = []
        for m in self._c().get("volumeMounts", []):
            vol = vols[m["name"]]
            if "emptyDir" in vol:
                out.append(f"--tmpfs={m['mountPath']}")
            else:
                ro = ":ro" if m.get("readOnly") else ""
                out.append(f"--volume={self.volumes[m['name']]}:{m['mountPath']}{ro}")
        return out

    def argv(self, image: str, extra: list[str] | None = None) -> list[str]:
        """``docker run`` of the container (``extra`` before the image: test-only mounts)."""
        c = self._c()
        env = self.environment()
        command = [expand(x, env) for x in c.get("command", [])]
        args = [expand(x, env) for x in c.get("args", [])]
        out = ["docker", "run", "--rm", f"--name={self.name}", "--network=none",
               f"--hostname={self.pod_name}"]
        out += [f"--label={k}={v}" for k, v in self.labels.items()]
        out += [f"--env={k}={v}" for k, v in env.items()]
        out += self.security() + self.limits() + self.mounts() + (extra or [])
        if command:
            out.append(f"--entrypoint={command[0]}")
        out.append(image)
        return out + command[1:] + args
