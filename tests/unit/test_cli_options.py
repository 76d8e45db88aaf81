"""The options are in the same place for every command (``uclab exec NODE --name LAB -- CMD``),
and ``uclab --version`` is there."""

from __future__ import annotations

import pytest

from lab.cli import build_parser, main, parse


def test_exec_reads_its_options_before_the_double_dash() -> None:
    for argv in (["exec", "cms", "--name", "nc1", "--", "ip", "-br", "a"],
                 ["exec", "--name", "nc1", "cms", "--", "ip", "-br", "a"]):
        args = parse(build_parser(), argv)
        assert (args.name, args.node, args.cmd) == ("nc1", "cms", ["ip", "-br", "a"])
    args = parse(build_parser(), ["exec", "cms", "ss", "-tn"])  # no --: the rest is CMD
    assert (args.name, args.cmd) == ("uclab", ["ss", "-tn"])


def test_graph_and_clean_take_a_lab_name_and_clean_a_dry_run() -> None:
    assert parse(build_parser(), ["graph", "--name", "nc1"]).name == "nc1"
    args = parse(build_parser(), ["clean", "--name", "nc1", "--dry-run"])
    assert (args.name, args.dry_run, args.all) == ("nc1", True, False)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("uclab 0.")


def test_options_of_other_commands_still_refuse_unknown_words() -> None:
    with pytest.raises(SystemExit) as exc:
        parse(build_parser(), ["graph", "--nme", "nc1"])
    assert exc.value.code == 2
