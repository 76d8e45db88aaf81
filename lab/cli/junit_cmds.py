"""``uclab junit merge OUT FILE...``: the JUnit files of a sharded run joined into one report.

The files are read and written with junitparser. Each input's test suites are kept as they are
(one ``<testsuite>`` per shard under one ``<testsuites>``, totals recomputed). A file written by
``uclab run --all --shard K/N`` (or ``firewall check --batch --shard K/N``) carries the property
``shard = K/N``; when the inputs carry it, the merge refuses an incomplete or mixed set (a shard
missing, given twice, or of another N): a CI farm whose one pod left no file must not look
green. A test case (class name and name) found in two inputs is refused too.

Exit codes: 0 merged and every case passed, 1 merged with failures or errors, 2 bad input.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SHARD_PROPERTY = "shard"


def register(sub: Any) -> None:
    p = sub.add_parser("junit", help="JUnit reports of sharded runs")
    j = p.add_subparsers(dest="junit_command", metavar="SUBCOMMAND", parser_class=type(p))
    m = j.add_parser(
        "merge", help="merge the JUnit files of every shard into one",
        description="Join JUnit XML files (e.g. one per shard of `uclab run --all --shard K/N`) "
        "into one report with totals. Shards are checked: every K from 1 to N once, the same N. "
        "Example: uclab junit merge all.xml shard-*.xml")
    m.add_argument("out", metavar="OUT", type=Path, help="the merged report to write")
    m.add_argument("inputs", metavar="FILE", type=Path, nargs="+", help="JUnit files")
    m.set_defaults(func=cmd_merge)
    p.set_defaults(func=lambda _args: (p.print_help(), 2)[1])


def cmd_merge(args: argparse.Namespace) -> int:
    from lab.base.errors import InputError  # noqa: PLC0415

    if not args.out.parent.is_dir():
        raise InputError("no such folder", args.out, fix="create the folder or change the path")
    merged = merge(args.inputs)
    merged.write(str(args.out), pretty=True)
    print(f"{args.out}: {merged.tests} cases from {len(args.inputs)} files, "
          f"{merged.failures} failures, {merged.errors} errors")
    return 0 if merged.failures == 0 and merged.errors == 0 else 1


def _suites(path: Path) -> list[Any]:
    from junitparser import JUnitXml, TestSuite  # noqa: PLC0415

    from lab.base.errors import InputError  # noqa: PLC0415

    if not path.is_file():
        raise InputError("no such file", path, fix="give the JUnit files the shards wrote")
    try:
        xml = JUnitXml.fromfile(str(path))
    except Exception as exc:  # junitparser raises lxml's/ElementTree's parse errors as they are
        raise InputError(f"not a JUnit XML file: {exc}", path,
                         fix="give the files written by --junit") from None
    return [xml] if isinstance(xml, TestSuite) else list(xml)


def shard_of(suite: Any) -> str | None:
    """The suite's ``shard`` property (``K/N``), if it has one."""
    for prop in suite.properties():
        if prop.name == SHARD_PROPERTY:
            return str(prop.value)
    return None


def _check_shards(found: dict[str, Path], files: Sequence[Path]) -> None:
    from lab.base.errors import InputError  # noqa: PLC0415
    from lab.scenario.shard import Shard  # noqa: PLC0415

    shards = [Shard.parse(text, str(path)) for text, path in found.items()]
    counts = {s.count for s in shards}
    if len(counts) > 1:
        raise InputError(f"shards of different N: {', '.join(sorted(found))}", files[0],
                         fix="merge the files of one sharded run")
    n = counts.pop()
    missing = sorted(set(range(1, n + 1)) - {s.index for s in shards})
    if missing:
        raise InputError(f"shard{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(f'{k}/{n}' for k in missing)} missing", files[0],
                         fix="give every shard's file (did one shard's job leave none?)")


def merge(files: Sequence[Path]) -> Any:
    """One ``JUnitXml`` of every suite of ``files`` (see the module docstring)."""
    from junitparser import JUnitXml  # noqa: PLC0415

    from lab.base.errors import InputError  # noqa: PLC0415

    out = JUnitXml()
    seen: dict[tuple[str, str], Path] = {}
    shards: dict[str, Path] = {}
    for path in files:
        for suite in _suites(path):
            shard = shard_of(suite)
            if shard is not None:
                if shard in shards:
                    raise InputError(f"shard {shard} given twice (also in {shards[shard]})",
                                     path, fix="give each shard's file once")
                shards[shard] = path
            for case in suite:
                key = (case.classname or "", case.name or "")
                if key in seen:
                    raise InputError(f"test case {key[1]!r} ({key[0]}) is also in {seen[key]}",
                                     path, fix="merge the files of one sharded run, once each")
                seen[key] = path
            out.add_testsuite(suite)
    if shards:
        _check_shards(shards, files)
    out.update_statistics()  # type: ignore[no-untyped-call]  # junitparser leaves it untyped
    return out
