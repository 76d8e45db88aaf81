"""Kernel primitives, part 4: running ``nft`` inside namespaces.

Part of the kernel layer (``lab/kernel/``). ``nft`` is forked by a thread that has entered
the target namespace, so it runs there without ``ip netns exec``; several loads run at once.
Policy files are checked with ``nft -c`` in a throwaway unnamed namespace before anything is
built, and nft's own message (file, line, caret) is handed back verbatim.
"""

from __future__ import annotations

import functools
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lab.base.errors import LabError
from lab.kernel.namespaces import in_anonymous_netns, run_in_thread
from lab.kernel.setns import enter_netns

TIMEOUT = 20.0
_WHERE = re.compile(r"^(?P<file>[^\n]*?):(?P<line>\d+):\d+(?:-\d+)?: Error: ", re.M)


@dataclass(frozen=True)
class NftFailure:
    """nft refused a file: its own words, and the line it pointed at (if it said)."""

    path: Path
    message: str
    line: int | None


@dataclass(frozen=True)
class NftJob:
    """Load ``path`` (a file, so nft names it in errors) or ``text`` into namespace ``ns``."""

    ns: str
    path: Path | None = None
    text: str | None = None

    @property
    def label(self) -> str:
        return f"{self.ns}: {self.path if self.path is not None else 'rendered ruleset'}"


def _failure(path: Path, stderr: str) -> NftFailure:
    m = _WHERE.search(stderr)
    return NftFailure(path, stderr.strip(), int(m.group("line")) if m else None)


def _start(argv: list[str], text: str | None, *,
           hint: str = "./setup installs nftables") -> subprocess.Popen[str]:
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE if text is not None else
                                subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    except OSError as exc:
        raise LabError(f"cannot run {argv[0]}: {exc} ({hint})") from None
    if text is not None:
        assert proc.stdin is not None
        proc.stdin.write(text)
        proc.stdin.close()
    return proc


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    try:
        out = proc.stdout.read() if proc.stdout else ""
        err = proc.stderr.read() if proc.stderr else ""
        code = proc.wait(TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise LabError(f"nft did not finish within {TIMEOUT} s") from None
    return code, out, err


def _run_in_each(jobs: Sequence[tuple[str, list[str], str | None]], *, name: str,
                 hint: str = "./setup installs nftables") -> list[tuple[int, str, str]]:
    """Start each ``(ns, argv, stdin text or None)`` inside its namespace, all at once (one
    worker thread entering each namespace in turn), then ``(code, stdout, stderr)`` of each in
    order."""

    def run() -> list[tuple[int, str, str]]:
        procs = []
        for ns, argv, text in jobs:
            enter_netns(ns)  # this worker thread only
            procs.append(_start(argv, text, hint=hint))
        return [_finish(proc) for proc in procs]

    return run_in_thread(run, name=name, timeout=TIMEOUT + 5)


def check_files(paths: Sequence[Path]) -> list[NftFailure]:
    """``nft -c -f`` each file in an empty unnamed namespace; the failures, in order."""

    def run() -> list[NftFailure]:
        procs = [(p, _start(["nft", "-c", "-f", str(p)], None)) for p in paths]
        failures = []
        for p, proc in procs:
            code, _, err = _finish(proc)
            if code != 0:
                failures.append(_failure(p, err))
        return failures

    return in_anonymous_netns(run, timeout=TIMEOUT + 5)


def load(jobs: Sequence[NftJob]) -> None:
    """Load every job into its namespace, all at once; :class:`LabError` if any fails."""

    results = _run_in_each(
        [(job.ns, ["nft", "-f", str(job.path) if job.path is not None else "-"], job.text)
         for job in jobs], name="nft-load")
    for job, (code, _, err) in zip(jobs, results, strict=True):
        if code != 0:
            raise LabError(f"nft refused {job.label}: {err.strip()}")


def list_rulesets(namespaces: Sequence[str]) -> dict[str, str]:
    """``nft list ruleset`` (with counters) of each namespace, all at once."""
    return _list(namespaces, ["nft", "list", "ruleset"], name="nft-list")


def _list(namespaces: Sequence[str], argv: list[str], *, name: str) -> dict[str, str]:
    """The output of ``argv`` run in each namespace, all at once; :class:`LabError` if any
    fails."""
    out = {}
    for ns, (code, text, err) in zip(namespaces, _run_in_each(
            [(ns, argv, None) for ns in namespaces], name=name), strict=True):
        if code != 0:
            raise LabError(f"{' '.join(argv)} in {ns}: {err.strip()}")
        out[ns] = text
    return out


# --- firewall check (owner: lab/firewall): iptables-nft policies, trace monitors, JSON ---------

_IPT_LINE = re.compile(r"(?:Error occurred at line: |at line:? )(\d+)")
IPTABLES_RESTORE = "iptables-nft-restore"


_IPT_HINT = "./setup installs nftables and iptables"


def _run_tool(argv: list[str]) -> tuple[int, str, str]:
    return _finish(_start(argv, None, hint=_IPT_HINT))


def iptables_check_files(paths: Sequence[Path]) -> list[NftFailure]:
    """Each iptables-save file through ``iptables-nft-restore --test`` and then a real restore,
    each in a throwaway unnamed namespace of its own (some mistakes, such as a jump to a chain
    that does not exist, only show when the rules reach the kernel). The failures, in order,
    with the tool's own message and the line it names."""

    def check(path: Path) -> NftFailure | None:
        for argv in ([IPTABLES_RESTORE, "--test", str(path)], [IPTABLES_RESTORE, str(path)]):
            code, _, err = _run_tool(argv)
            if code != 0:
                m = _IPT_LINE.search(err)
                return NftFailure(path, err.strip(), int(m.group(1)) if m else None)
        return None

    failures = []
    for path in paths:
        failure = in_anonymous_netns(functools.partial(check, path), timeout=2 * TIMEOUT + 5)
        if failure is not None:
            failures.append(failure)
    return failures


def iptables_load(jobs: Sequence[tuple[str, Path]]) -> None:
    """``iptables-nft-restore FILE`` inside each namespace ``(ns, FILE)``, all at once
    (counters start at zero: ``-c`` is not given); :class:`LabError` if any fails."""

    results = _run_in_each([(ns, [IPTABLES_RESTORE, str(path)], None) for ns, path in jobs],
                           name="iptables-load", hint=_IPT_HINT)
    for (ns, path), (code, _, err) in zip(jobs, results, strict=True):
        if code != 0:
            raise LabError(f"{IPTABLES_RESTORE} refused {path} in {ns}: {err.strip()}")


def list_rulesets_json(namespaces: Sequence[str]) -> dict[str, str]:
    """``nft -j list ruleset`` (rules with their handles) of each namespace, all at once."""
    return _list(namespaces, ["nft", "-j", "list", "ruleset"], name="nft-list-json")


def start_trace_monitor(ns: str, limit: float) -> subprocess.Popen[str]:
    """Start ``nft -a monitor trace`` inside namespace ``ns``, bounded by coreutils ``timeout``
    (it ends by itself after ``limit`` seconds even if nobody stops it). Its stdout is a pipe of
    trace lines (nft flushes each event); stop it with ``terminate()`` (SIGTERM is passed on)."""

    def start() -> subprocess.Popen[str]:
        enter_netns(ns)  # this worker thread only
        argv = ["timeout", "--signal=TERM", f"{limit:g}", "nft", "-a", "monitor", "trace"]
        try:
            return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, bufsize=1)
        except OSError as exc:
            raise LabError(f"cannot run nft monitor trace: {exc}") from None

    return run_in_thread(start, name=f"nft-trace:{ns}", timeout=10)
