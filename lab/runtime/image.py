"""The uclab image: built from the repository's ``Dockerfile`` without any image registry.

    python -m lab.runtime.image                      # prints the tag: uclab:runtime-<hash>
    python -m lab.runtime.image --target test        # + referees, dev tools and tests
    python -m lab.runtime.image --target vagrant     # + sshd, for `vagrant up --provider=docker`

Where no registry is reachable the base comes from Debian's archive: ``debootstrap
--variant=minbase bookworm`` imported as :data:`BASE_TAG` (made once per machine). The build
context is exactly the repository's files the Dockerfile copies (:data:`SOURCES_OF`; from
``git ls-files``, or every file outside :data:`EXCLUDED` without git) plus, when given, the CA
certificates the build must trust (``extra-ca.crt``; by default the host's bundle) and a
wheelhouse (``wheelhouse/*.whl``), sent as a tar on ``docker build``'s standard input. The tag
is the hash of that context, the target and the base: an unchanged tree is never built twice,
and ``uclab:<target>`` names the newest build.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lab.base.errors import LabError

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
BASE_TAG = "uclab-base:bookworm-minbase"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
TARGETS = ("runtime", "vagrant", "test")
#: What the Dockerfile copies, per target: the context (and so the tag) holds only these.
SOURCES_OF: dict[str, tuple[str, ...]] = {
    "runtime": ("Dockerfile", "setup", "pyproject.toml", "lab/", "nodes/", "topologies/",
                "scenarios/"),
}
SOURCES_OF["vagrant"] = SOURCES_OF["runtime"]
SOURCES_OF["test"] = (*SOURCES_OF["runtime"], "tests/", "bench/")
LABEL = "org.uclab.source"  #: the context hash, on every image this module builds
EXCLUDED = frozenset({".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache",
                      ".pytest_cache", ".hypothesis", ".vagrant", "out", "build",
                      "extra-ca.crt", "wheelhouse"})


@dataclass(frozen=True)
class BuildInputs:
    """Everything an image is made from; :attr:`tag` is derived from all of it."""

    target: str = "runtime"
    base: str = BASE_TAG
    ca: Path | None = None  #: PEM certificates to trust during the build
    wheelhouse: Path | None = None  #: a folder of wheels: pip installs offline from it
    repo: Path = REPO
    files: tuple[str, ...] = field(default=(), compare=False)

    def with_files(self) -> BuildInputs:
        wanted = SOURCES_OF.get(self.target, SOURCES_OF["runtime"])
        files = [f for f in context_files(self.repo)
                 if any(f == w or (w.endswith("/") and f.startswith(w)) for w in wanted)]
        return BuildInputs(self.target, self.base, self.ca, self.wheelhouse, self.repo,
                           tuple(files))

    def extras(self) -> list[tuple[str, Path]]:
        """(name in the context, file on disk) of the optional inputs."""
        out: list[tuple[str, Path]] = []
        if self.ca is not None:
            out.append(("extra-ca.crt", self.ca))
        if self.wheelhouse is not None:
            out += [(f"wheelhouse/{w.name}", w) for w in sorted(self.wheelhouse.glob("*.whl"))]
        return out

    @property
    def digest(self) -> str:
        h = hashlib.sha256(f"{self.target}\0{self.base}\0".encode())
        for name, path in [(n, self.repo / n) for n in self.files] + self.extras():
            h.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
        return h.hexdigest()[:12]

    @property
    def tag(self) -> str:
        return f"uclab:{self.target}-{self.digest}"


def context_files(repo: Path) -> list[str]:
    """The repository's files, relative to ``repo``: tracked and untracked-but-not-ignored
    (so the image holds the working tree as it is), without git: every file outside
    :data:`EXCLUDED`."""
    if (repo / ".git").exists() and shutil.which("git"):
        out = subprocess.run(["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], capture_output=True, check=True).stdout
        names = [n for n in out.decode().split("\0") if n]
        return sorted(n for n in names if (repo / n).is_file())
    found = []
    for dirpath, dirnames, filenames in os.walk(repo):
        dirnames[:] = [d for d in dirnames if d not in EXCLUDED and not d.endswith(".egg-info")]
        rel = Path(dirpath).relative_to(repo)
        found += [str(rel / f) for f in filenames if f not in EXCLUDED]
    return sorted(found)


def _docker(*args: str, input_bytes: bytes | None = None,
            capture: bool = True) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["docker", *args], input=input_bytes, check=False,
                              capture_output=capture)
    except FileNotFoundError:
        raise LabError("the docker command is not installed: run ./setup") from None


def image_exists(ref: str) -> bool:
    return _docker("image", "inspect", "--format", "{{.Id}}", ref).returncode == 0


def ensure_base(tag: str = BASE_TAG, mirror: str = DEBIAN_MIRROR) -> str:
    """A Debian 12 minbase image made with debootstrap and ``docker import``, once per
    machine (kept under ``tag``)."""
    if image_exists(tag):
        return tag
    if shutil.which("debootstrap") is None:
        raise LabError("debootstrap is not installed (it makes the base image without a "
                       "registry): run ./setup, or give --base debian:bookworm-slim")
    with tempfile.TemporaryDirectory(prefix="uclab-base-") as tmp:
        root = Path(tmp) / "root"
        log.info("debootstrap --variant=minbase bookworm %s (about a minute)", root)
        proc = subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(root),
                               mirror], capture_output=True, check=False)
        if proc.returncode != 0:
            tail = proc.stdout.decode(errors="replace").strip().splitlines()[-3:]
            raise LabError(f"debootstrap failed ({proc.returncode}): {' | '.join(tail)}")
        _slim(root)
        tar = subprocess.Popen(["tar", "-C", str(root), "--numeric-owner", "-c", "."],
                               stdout=subprocess.PIPE)
        assert tar.stdout is not None
        imp = subprocess.run(["docker", "import", "--change", "CMD [\"bash\"]", "-", tag],
                             stdin=tar.stdout, capture_output=True, check=False)
        tar.stdout.close()
        tar.wait()
        if imp.returncode != 0 or tar.returncode != 0:
            raise LabError(f"docker import failed: {imp.stderr.decode(errors='replace')}")
    return tag


#: As Debian's slim images: packages installed later leave out documentation and translations.
DPKG_EXCLUDES = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
"""
#: The base's archive: bookworm with its updates and security fixes, as bookworm-slim has.
SOURCES = f"""\
deb {DEBIAN_MIRROR} bookworm main
deb {DEBIAN_MIRROR} bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
"""


def _slim(root: Path) -> None:
    """Drop what an image does not need (apt's lists and caches, documentation) and keep
    later packages from bringing theirs."""
    (root / "etc/dpkg/dpkg.cfg.d/uclab-slim").write_text(DPKG_EXCLUDES)
    (root / "etc/apt/sources.list").write_text(SOURCES)
    for pattern in ("var/lib/apt/lists/*", "var/cache/apt/*.bin", "var/cache/apt/archives/*.deb",
                    "usr/share/man/*", "usr/share/info/*", "usr/share/locale/*",
                    "usr/share/doc/*"):
        for path in root.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.name != "lock" and not (path.parent.name == "doc" and path.is_symlink()):
                path.unlink()


_FROM = re.compile(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?\s*$", re.IGNORECASE)


def stages_for(dockerfile: str, target: str) -> str:
    """The Dockerfile with only the stages ``target`` is built from (its ``FROM`` chain) and
    what precedes the first stage (the ``ARG`` of the base)."""
    lines = dockerfile.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if _FROM.match(line.strip())]
    if not starts:
        return dockerfile
    stages: dict[str, tuple[str, list[str]]] = {}
    for n, i in enumerate(starts):
        m = _FROM.match(lines[i].strip())
        assert m is not None
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        stages[m.group(2) or str(n)] = (m.group(1), lines[i:end])
    if target not in stages:
        raise LabError(f"the Dockerfile has no stage {target!r}")
    needed, name = [], target
    while name in stages:
        needed.append(name)
        name = stages[name][0]
    keep = [s for s in stages if s in needed]  # in the file's order
    return "".join(lines[:starts[0]]) + "".join(line for s in keep for line in stages[s][1])


def context_tar(inputs: BuildInputs) -> bytes:
    """The build context: the repository's files and the optional inputs, as a gzipped tar
    (``docker build -`` takes an uncompressed tar of Python's for a Dockerfile)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        for name in inputs.files:
            if name == "Dockerfile":
                text = stages_for((inputs.repo / name).read_text(), inputs.target).encode()
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(text), 0o644
                tar.addfile(info, io.BytesIO(text))
                continue
            tar.add(inputs.repo / name, arcname=name, recursive=False)
        for name, path in inputs.extras():
            tar.add(path, arcname=name, recursive=False)
    return buf.getvalue()


def build(inputs: BuildInputs, *, quiet: bool = True, alias: bool = True) -> str:
    """Build ``inputs`` (nothing to do if its tag exists) and return the tag; with ``alias``
    the build is also tagged ``uclab:<target>`` (what ``uclab up --runtime docker`` uses)."""
    inputs = inputs.with_files() if not inputs.files else inputs
    if inputs.target not in TARGETS:
        raise LabError(f"unknown image target {inputs.target!r}: one of {', '.join(TARGETS)}")
    tag = inputs.tag
    if not image_exists(tag):
        if inputs.base == BASE_TAG:
            ensure_base()
        log.info("docker build --target %s -t %s", inputs.target, tag)
        args = ["build", "--force-rm", "--target", inputs.target,
                "--build-arg", f"BASE={inputs.base}",
                "--label", f"{LABEL}={inputs.digest}", "-t", tag, "-"]
        if quiet:
            args.insert(1, "-q")
        proc = _docker(*args, input_bytes=context_tar(inputs), capture=quiet)
        if proc.returncode != 0:
            err = (proc.stderr or b"").decode(errors="replace").strip()
            raise LabError(f"docker build of {tag} failed:\n{err[-3000:]}")
    if alias:
        _docker("tag", tag, f"uclab:{inputs.target}")
    prune_older(inputs.target, keep=KEEP)
    return tag


KEEP = 3  #: builds of each target kept (the newest); older ones are removed by their tag


def prune_older(target: str, keep: int = KEEP) -> list[str]:
    """Remove the tags ``uclab:<target>-<hash>`` this module made (they carry :data:`LABEL`)
    beyond the newest ``keep``; an image a container still uses stays (docker refuses)."""
    out = _docker("images", "--filter", f"label={LABEL}", "--filter",
                  f"reference=uclab:{target}-*",
                  "--format", "{{.CreatedAt}}\t{{.Repository}}:{{.Tag}}")
    rows = sorted((line.split("\t") for line in out.stdout.decode().splitlines() if "\t" in line),
                  reverse=True)
    old = [ref for _, ref in rows[keep:]]
    for ref in old:
        _docker("rmi", ref)
    return old


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.runtime.image",
                                     description="Build the uclab image (prints its tag).")
    parser.add_argument("--target", choices=TARGETS, default="runtime")
    parser.add_argument("--base", default=BASE_TAG,
                        help=f"base image (default {BASE_TAG}, made with debootstrap; "
                             "debian:bookworm-slim where a registry is reachable)")
    parser.add_argument("--ca", type=Path, default=HOST_CA_BUNDLE if HOST_CA_BUNDLE.is_file()
                        else None, help="PEM CA certificates the build trusts (default: "
                        f"{HOST_CA_BUNDLE} when present)")
    parser.add_argument("--no-ca", action="store_true", help="trust only Debian's CAs")
    parser.add_argument("--wheelhouse", type=Path, help="install Python packages offline "
                        "from this folder of wheels (pip wheel -w DIR .[dev])")
    parser.add_argument("-v", "--verbose", action="store_true", help="show docker build")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="image: %(message)s", stream=sys.stderr)
    if args.wheelhouse is not None and not any(args.wheelhouse.glob("*.whl")):
        print(f"image: {args.wheelhouse}: no *.whl in it", file=sys.stderr)
        return 2
    inputs = BuildInputs(args.target, args.base, None if args.no_ca else args.ca,
                         args.wheelhouse)
    try:
        print(build(inputs, quiet=not args.verbose))
    except LabError as exc:
        print(f"image: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
