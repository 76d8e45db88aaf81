"""What a container withholds is named with the docker option that grants it."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.base.errors import LabError
from lab.kernel import confinement
from lab.kernel.confinement import CAP_NET_ADMIN, CAP_SYS_ADMIN, check_confinement


def fake_proc(tmp_path: Path, caps: int, apparmor: str = "unconfined") -> Path:
    proc = tmp_path / "proc"
    (proc / "self/attr").mkdir(parents=True)
    (proc / "sys").mkdir()
    (proc / "1").mkdir()
    (proc / "self/status").write_text(f"Name:\tx\nCapInh:\t0\nCapEff:\t{caps:016x}\n")
    (proc / "self/attr/current").write_text(apparmor + "\n")
    (proc / "1/environ").write_bytes(b"PATH=/bin\0container=docker\0")
    return proc


ALL = (1 << CAP_NET_ADMIN) | (1 << CAP_SYS_ADMIN)


def test_nothing_missing(tmp_path: Path) -> None:
    assert confinement.confinement_problems(fake_proc(tmp_path, ALL)) == []
    check_confinement(fake_proc(tmp_path / "b", ALL))


@pytest.mark.parametrize(("caps", "flag"), [
    (1 << CAP_SYS_ADMIN, "--cap-add NET_ADMIN"),
    (1 << CAP_NET_ADMIN, "--cap-add SYS_ADMIN"),
])
def test_a_missing_capability_names_its_flag(tmp_path: Path, caps: int, flag: str) -> None:
    proc = fake_proc(tmp_path, caps)
    problems = confinement.confinement_problems(proc)
    assert [p.docker_flag for p in problems] == [flag]
    with pytest.raises(LabError, match="this container cannot build a lab") as err:
        check_confinement(proc)
    assert flag in str(err.value)


def test_apparmor_enforcing_names_its_option(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, ALL, apparmor="docker-default (enforce)")
    problems = confinement.confinement_problems(proc)
    assert [p.docker_flag for p in problems] == ["--security-opt apparmor=unconfined"]
    assert "docker-default" in str(problems[0])


def test_read_only_proc_sys_names_systempaths(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    proc = fake_proc(tmp_path, ALL)
    monkeypatch.setattr(confinement, "_read_only", lambda path: path == proc / "sys")
    problems = confinement.confinement_problems(proc)
    assert [p.docker_flag for p in problems] == ["--security-opt systempaths=unconfined"]


def test_outside_a_container_the_advice_is_root(tmp_path: Path) -> None:
    proc = fake_proc(tmp_path, 0)
    (proc / "1/environ").write_bytes(b"PATH=/bin\0")
    assert not confinement.in_container(proc, root=tmp_path)
    assert "sudo" in confinement.explain(confinement.confinement_problems(proc), container=False)


def test_this_test_process_can_build_labs() -> None:
    """The suite runs as root: the real /proc says nothing is missing."""
    assert confinement.confinement_problems() == []
