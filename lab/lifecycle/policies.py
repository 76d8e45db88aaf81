"""Firewall policies given by their owner, in one place for ``uclab up --policy``, scenario
``policies:`` and ``uclab firewall check``: nftables files as they are, iptables-save files
through iptables-nft.

    pols = read(topo, {"fw-inside": Path("in.rules")})   # InputError: not a firewall, no file
    validate(topo, pols)                                  # nft -c / iptables-nft-restore --test
    topo = install(state, topo, pols)                     # stubs for iptables firewalls
    restore(lab, pols)                                    # iptables-save files, after nft

Everything that can be known before building is checked first (:func:`read`,
:func:`validate`: the tool's own message and line), so a bad file builds nothing. An iptables
firewall gets a comment-only nftables file in the run folder as its lab policy (so that the
``nftables`` step has something to load and ``uclab status`` says where the rules came from);
then :func:`restore` (in the ``nftables`` step) loads the iptables-save file in its
namespace.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lab.base.errors import InputError
from lab.base.names import namespace
from lab.base.state import LabState, Record
from lab.kernel import nftables
from lab.topology import Topology

Format = Literal["nft", "iptables"]
FORMATS: tuple[Format, ...] = ("nft", "iptables")
#: The nftables table the lab adds beside a policy to trace it: a policy may not use the name.
RESERVED_TABLE = "uclab_trace"
_RESERVED = re.compile(rf"\b{RESERVED_TABLE}\b")


@dataclass(frozen=True)
class Policy:
    """One firewall's policy file and its format."""

    node: str
    path: Path
    format: Format


def looks_like_iptables_save(text: str) -> bool:
    """An iptables-save file has ``*table`` sections closed by ``COMMIT``."""
    lines = {ln.strip() for ln in text.splitlines()}
    return "COMMIT" in lines and any(re.fullmatch(r"\*[a-z]+", ln) for ln in lines)


def detect_format(text: str) -> Format:
    """``iptables`` for an iptables-save file (``*table`` ... ``COMMIT``), else ``nft``."""
    return "iptables" if looks_like_iptables_save(text) else "nft"


def with_policies(topo: Topology, files: Mapping[str, Path]) -> Topology:
    """``--policy NODE=FILE``: NODE must be a firewall of the topology, FILE must exist."""
    for node, path in files.items():
        if not topo.has_node(node) or topo.node(node).policy is None:
            raise InputError(f"{node} is not a firewall of topology {topo.name}",
                             f"--policy {node}={path}",
                             fix="use one of: " + ", ".join(n.name for n in topo.firewalls()))
        if not path.is_file():
            raise InputError("policy file not found", path, fix="check the path")
        topo = topo.with_policy(node, path.resolve())
    return topo


def read(topo: Topology, files: Mapping[str, Path], fmt: Format | None = None
         ) -> tuple[Policy, ...]:
    """The policies given: each node a firewall of ``topo``, each file readable text; the
    format given, else detected from the text."""
    with_policies(topo, files)
    out = []
    for node, path in files.items():
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read the policy: {exc}", path,
                             fix="give a text file (nftables or iptables-save)") from None
        for number, line in enumerate(text.splitlines(), start=1):
            if _RESERVED.search(line.split("#", 1)[0]):
                raise InputError(f"the name {RESERVED_TABLE} is reserved for the lab's "
                                 "tracing table", path, number,
                                 fix="rename your table or chain")
        out.append(Policy(node, path.resolve(), fmt or detect_format(text)))
    return tuple(out)


def check_nft(topo: Topology) -> None:
    """Every nftables policy of ``topo`` must pass ``nft -c`` (in a throwaway namespace):
    else an InputError quoting nft's own message, before anything is built."""
    files = [n.policy for n in topo.firewalls() if n.policy is not None]
    for failure in nftables.check_files(files):
        raise InputError(f"nft rejects this policy:\n{failure.message}", failure.path,
                         failure.line, fix="correct the rule nft points at; `nft -c -f FILE` "
                         "checks a file without loading it")


def validate(topo: Topology, policies: tuple[Policy, ...]) -> None:
    """Every policy (and the topology's own) must load: InputError quoting the tool's own
    message and line, before anything is built."""
    ipt = [p.path for p in policies if p.format == "iptables"]
    for failure in nftables.iptables_check_files(ipt):
        raise InputError(f"iptables-nft-restore rejects this policy:\n{failure.message}",
                         failure.path, failure.line,
                         fix="correct the line it points at; `iptables-nft-restore --test "
                         "FILE` checks a file; give --format nft if it is an nftables file")
    check_nft(with_policies(topo, {p.node: p.path for p in policies if p.format == "nft"}))


def install(state: LabState, topo: Topology, policies: tuple[Policy, ...]) -> Topology:
    """``topo`` with each firewall's lab policy: the nftables file itself, or for an
    iptables-save file a comment-only stub written (recorded) into the run folder."""
    for p in policies:
        path = p.path
        if p.format == "iptables":
            path = state.run.path / "policies" / f"{p.node}.nft"
            state.add(Record("path", f"policies/{p.node}.nft"))
            path.parent.mkdir(exist_ok=True)
            path.write_text(f"# {p.node}: iptables-save policy {p.path}, loaded by "
                            "iptables-nft-restore\n")
        topo = topo.with_policy(p.node, path)
    return topo


def restore(lab: str, policies: tuple[Policy, ...]) -> None:
    """Restore the iptables-save policies into their firewalls' namespaces (iptables-nft)."""
    ipt = [p for p in policies if p.format == "iptables"]
    if ipt:
        nftables.iptables_load([(namespace(lab, p.node), p.path) for p in ipt])
