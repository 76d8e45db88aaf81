"""The Docker side of uclab, against the namespace runtime measured in the same run.

    sudo .venv/bin/python bench/bench_docker.py [--runs 3] [--clean-build]

* ``uclab up`` + ``uclab down`` with ``--runtime docker`` (8 containers of the uclab image)
  against ``--runtime netns`` (8 namespaces), each a new process as a trainee runs it,
  interleaved; medians and the ratio docker / netns;
* ``docker run IMAGE run screen-share`` to its verdict against ``uclab run screen-share`` on
  the host (namespaces), interleaved; medians and the ratio;
* the images' sizes (runtime, vagrant; the goal for runtime is 400 MB);
* with ``--clean-build``: the image built as on a clean machine (a fresh debootstrap base and
  ``docker build --no-cache``; what it makes is removed afterwards).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lab.runtime import image

ROOT = Path(__file__).resolve().parent.parent
FLAGS = ["--cap-add", "NET_ADMIN", "--cap-add", "SYS_ADMIN", "--cap-add", "NET_RAW",
         "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
         "--security-opt", "systempaths=unconfined"]


def timed(argv: list[str], env: dict[str, str] | None = None, timeout: float = 300) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=timeout,
                          check=False, env=env)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:6])}... failed ({proc.returncode}): "
                         f"{(proc.stderr or proc.stdout).strip()[-1500:]}")
    return seconds


def uclab(*args: str) -> list[str]:
    return [sys.executable, "-m", "lab", *args]


def up_down(runs: int, env: dict[str, str]) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {k: [] for k in ("netns up", "netns down", "docker up",
                                                      "docker down")}
    for i in range(runs):
        for rt in ("netns", "docker"):
            lab = f"bench{os.getpid() % 10000}{rt[0]}{i}"
            times[f"{rt} up"].append(timed(uclab("up", "--runtime", rt, "--name", lab),
                                           env))
            times[f"{rt} down"].append(timed(uclab("down", "--name", lab), env))
    return times


def run_to_verdict(runs: int, tag: str, env: dict[str, str]) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"host uclab run": [], "docker run": []}
    for i in range(runs):
        times["host uclab run"].append(timed(uclab(
            "run", "screen-share", "--media-seconds", "0.3", "--name",
            f"bench{os.getpid() % 10000}r{i}"), env))
        times["docker run"].append(timed(
            ["docker", "run", "--rm", "--label", "org.uclab.bench=1", *FLAGS, tag, "run",
             "screen-share", "--media-seconds", "0.3"]))
    return times


def size_mb(ref: str) -> float:
    out = subprocess.run(["docker", "image", "inspect", "--format", "{{.Size}}", ref],
                         capture_output=True, text=True, check=True)
    return int(out.stdout) / 1e6


def clean_build() -> dict[str, float]:
    """A fresh debootstrap base and a build with no cache, as a clean machine does it."""
    base = f"uclab-base:bench-{os.getpid()}"
    tag = f"uclab-bench:{os.getpid()}"
    t0 = time.perf_counter()
    image.ensure_base(base)
    t_base = time.perf_counter() - t0
    ca = image.HOST_CA_BUNDLE if image.HOST_CA_BUNDLE.is_file() else None
    inputs = image.BuildInputs("runtime", base=base, ca=ca).with_files()
    try:
        with tempfile.TemporaryFile() as ctx:
            ctx.write(image.context_tar(inputs))
            ctx.seek(0)
            t1 = time.perf_counter()
            subprocess.run(["docker", "build", "-q", "--no-cache", "--force-rm", "--target",
                            "runtime", "--build-arg", f"BASE={base}", "-t", tag, "-"],
                           stdin=ctx, capture_output=True, check=True, timeout=1800)
            t_build = time.perf_counter() - t1
    finally:
        subprocess.run(["docker", "rmi", tag, base], capture_output=True, check=False)
    return {"debootstrap base": t_base, "docker build --no-cache": t_build}


def show(title: str, times: dict[str, list[float]], pairs: list[tuple[str, str]]) -> None:
    print(title)
    for name, values in times.items():
        print(f"  {name:16} median {statistics.median(values):6.2f} s   "
              f"({', '.join(f'{v:.2f}' for v in values)})")
    for a, b in pairs:
        ratio = statistics.median(times[a]) / statistics.median(times[b])
        print(f"  ratio {a} / {b}: {ratio:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clean-build", action="store_true")
    args = parser.parse_args()
    ca = image.HOST_CA_BUNDLE if image.HOST_CA_BUNDLE.is_file() else None
    t0 = time.perf_counter()
    tags = {t: image.build(image.BuildInputs(t, ca=ca)) for t in ("runtime", "vagrant")}
    print(f"images (cached by tag; {time.perf_counter() - t0:.1f} s to make sure): "
          + ", ".join(f"{t} {tag}" for t, tag in tags.items()))
    env = {**os.environ, "UCLAB_IMAGE": tags["runtime"]}
    show("uclab up + down, 8 nodes:", up_down(args.runs, env),
         [("docker up", "netns up"), ("docker down", "netns down")])
    show("screen share to its verdict (lab up, call, capture, ladder, lab down):",
         run_to_verdict(args.runs, tags["runtime"], env), [("docker run", "host uclab run")])
    print("image sizes:")
    for t, tag in tags.items():
        print(f"  {t:8} {size_mb(tag):6.0f} MB" + ("   (goal: 400 MB)" if t == "runtime"
                                                    else ""))
    print(f"  base     {size_mb(image.BASE_TAG):6.0f} MB   (debootstrap --variant=minbase "
          "bookworm, slimmed)")
    if args.clean_build:
        print("clean build:")
        for name, seconds in clean_build().items():
            print(f"  {name:24} {seconds:6.1f} s")


if __name__ == "__main__":
    main()
