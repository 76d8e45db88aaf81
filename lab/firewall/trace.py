"""Parsing ``nft -a monitor trace`` output into per-packet decisions (sans-I/O: text in, data out).

nftables tracing (``meta nftrace set 1``) makes the kernel report every rule a marked packet
meets, as netlink events that ``nft monitor trace`` prints one per line (nftables 1.0.6)::

    trace id 10abb74c inet filter forward packet: iif "vc-internal" ... ip saddr 10.48.54.229 \
ip daddr 10.48.54.227 ... tcp sport 41832 tcp dport 7001 tcp flags == syn ...
    trace id 10abb74c inet filter forward rule counter packets 0 bytes 0 drop comment \
"everything else" # handle 7 (verdict drop)
    trace id 4ba07156 ip filter FORWARD policy drop

Every line starts with the packet's trace id, the table's family and name and the chain. The
``packet:`` line opens a base chain (its header fields give the 5-tuple), ``rule`` lines name
the rule (its text as nft lists it; with ``-a`` its handle) and the verdict, ``policy`` lines the
chain's policy. With iptables-nft the rules are nft rules too; matches without an nft equivalent
print as ``xt match NAME`` (see :mod:`lab.firewall.iptables` for the way back to the
iptables-save line).

A packet's fate (:func:`decide`): the first ``drop`` (a ``reject`` prints as ``verdict drop``)
ends it; otherwise it went through, and the rule that let it is the first ``accept`` of a rule,
else the first chain policy ``accept``. The lab's own tracing table is never the decider.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import Literal

from lab.lifecycle.policies import RESERVED_TABLE

#: The lab-owned table that marks packets for tracing (see :mod:`lab.firewall.tracing`).
TRACE_TABLE = RESERVED_TABLE  # the lab-owned tracing table (no policy may use the name)

_HEAD = re.compile(r"^trace id (?P<id>[0-9a-f]+) (?P<family>\w+) (?P<table>\S+) (?P<chain>\S+) "
                   r"(?P<kind>packet:|rule|policy|verdict|unknown)\s?(?P<rest>.*)$")
_VERDICT = re.compile(r"^(?P<text>.*?)(?: # handle (?P<handle>\d+))? \(verdict (?P<verdict>\w+)"
                      r"(?: (?P<target>\S+))?\)\s*$")
_COUNTER = re.compile(r"\bcounter packets \d+ bytes \d+")
_COMMENT = re.compile(r'\bcomment "(?:[^"\\]|\\.)*"')
_REJECT = re.compile(r"\breject\b|\bxt target REJECT\b")
_FIELDS = {
    "saddr": re.compile(r"\bip saddr (\d+\.\d+\.\d+\.\d+)"),
    "daddr": re.compile(r"\bip daddr (\d+\.\d+\.\d+\.\d+)"),
    "proto": re.compile(r"\bip protocol (\w+)"),
    "l4": re.compile(r"\b(tcp|udp) sport (\d+) (?:tcp|udp) dport (\d+)"),
    "flags": re.compile(r"\btcp flags == (\(.*?\)|\S+)"),
    "iif": re.compile(r'\biif "([^"]*)"'),
    "oif": re.compile(r'\boif "([^"]*)"'),
}

Verdict = Literal["accept", "drop", "reject"]


@dataclass(frozen=True)
class FiveTuple:
    proto: str  # tcp, udp, icmp, ...
    src: IPv4Address
    sport: int | None
    dst: IPv4Address
    dport: int | None

    def reversed(self) -> FiveTuple:
        """The same connection seen from the other side (the answer's 5-tuple)."""
        return FiveTuple(self.proto, self.dst, self.dport, self.src, self.sport)

    def __str__(self) -> str:
        s = f"{self.src}:{self.sport}" if self.sport is not None else str(self.src)
        d = f"{self.dst}:{self.dport}" if self.dport is not None else str(self.dst)
        return f"{self.proto} {s} -> {d}"


@dataclass(frozen=True)
class TraceEvent:
    """One trace line: where (family, table, chain), what (rule, policy), the verdict."""

    id: str
    family: str
    table: str
    chain: str
    kind: Literal["packet", "rule", "policy", "other"]
    text: str = ""  # rule text (counter values removed), or the packet's header fields
    handle: int | None = None
    verdict: str | None = None  # accept, drop, continue, jump, goto, return, ...
    target: str | None = None  # jump/goto target chain

    @property
    def where(self) -> tuple[str, str, str]:
        return (self.family, self.table, self.chain)

    @property
    def own(self) -> bool:
        """An event of the lab's tracing table, never a decision of the user's policy."""
        return self.table == TRACE_TABLE


@dataclass(frozen=True)
class Decision:
    """What a policy did to one packet: the verdict and the rule (or chain policy) that gave it."""

    verdict: Verdict
    family: str
    table: str
    chain: str
    rule: str | None  # rule text, None when the chain's policy decided
    handle: int | None

    @property
    def where(self) -> str:
        return f"{self.family} {self.table} {self.chain}"

    @property
    def unfiltered(self) -> bool:
        """Traced, but no chain of the user's rulesets gave a verdict: nothing filters it."""
        return self.table == ""

    @property
    def text(self) -> str:
        """The rule's text, or ``policy drop of ip filter FORWARD``."""
        if self.unfiltered:
            return "no rule or chain policy of the firewall met it (nothing filters it)"
        if self.rule is None:
            return f"policy {self.verdict} of {self.where}"
        return self.rule

    def describe(self) -> str:
        """``rule text (handle 7)`` or ``policy drop of ip filter FORWARD``."""
        return f"{self.text} (handle {self.handle})" if self.handle is not None else self.text


_TCP_FLAGS = ("fin", "syn", "rst", "psh", "ack", "urg", "ecn", "cwr")  # bit 0 first


def tcp_flag_names(text: str | None) -> frozenset[str]:
    """``syn``, ``(syn | ack)`` or ``0x12`` (nft prints combinations it has no name for in
    hex) as a set of flag names."""
    if not text:
        return frozenset()
    if re.fullmatch(r"0x[0-9a-fA-F]+", text):
        bits = int(text, 16)
        return frozenset(n for i, n in enumerate(_TCP_FLAGS) if bits & (1 << i))
    return frozenset(re.findall(r"[a-z]+", text))


@dataclass
class PacketTrace:
    """Every trace event of one packet, in order, and its header fields."""

    id: str
    events: list[TraceEvent] = field(default_factory=list)
    tuple: FiveTuple | None = None
    tcp_flags: str | None = None
    iif: str | None = None
    oif: str | None = None

    @property
    def flags(self) -> frozenset[str]:
        return tcp_flag_names(self.tcp_flags)

    @property
    def local(self) -> bool:
        """A packet on the node's own loopback (the session's marker datagrams): never lab
        traffic through the firewall."""
        return self.tuple is not None and self.tuple.src.is_loopback

    @property
    def decision(self) -> Decision | None:
        return decide(self.events)


def parse_line(line: str) -> TraceEvent | None:
    """One line of ``nft -a monitor trace``; None for anything that is not a trace line."""
    m = _HEAD.match(line.rstrip("\n"))
    if m is None:
        return None
    kind, rest = m.group("kind"), m.group("rest").strip()
    where = (m.group("id"), m.group("family"), m.group("table"), m.group("chain"))
    if kind == "packet:":
        return TraceEvent(*where, kind="packet", text=rest)
    if kind == "policy":
        return TraceEvent(*where, kind="policy", verdict=rest.split()[0] if rest else None)
    if kind == "rule":
        v = _VERDICT.match(rest)
        if v is None:
            return TraceEvent(*where, kind="rule", text=_clean(rest))
        handle = v.group("handle")
        return TraceEvent(*where, kind="rule", text=_clean(v.group("text")),
                          handle=int(handle) if handle else None, verdict=v.group("verdict"),
                          target=v.group("target"))
    return TraceEvent(*where, kind="other", text=rest)


def _clean(rule: str) -> str:
    """Rule text without the counter values of the moment (``counter packets 3 bytes 180``)."""
    return " ".join(_COUNTER.sub("counter", rule).split())


def header(text: str) -> tuple[FiveTuple | None, str | None, str | None, str | None]:
    """The 5-tuple, TCP flags, iif and oif from a ``packet:`` line's fields."""
    found = {k: r.search(text) for k, r in _FIELDS.items()}
    saddr, daddr, l4 = found["saddr"], found["daddr"], found["l4"]
    five = None
    if saddr and daddr:
        proto = l4.group(1) if l4 else (found["proto"].group(1) if found["proto"] else "ip")
        five = FiveTuple(proto, IPv4Address(saddr.group(1)),
                         int(l4.group(2)) if l4 else None,
                         IPv4Address(daddr.group(1)), int(l4.group(3)) if l4 else None)
    flags, iif, oif = found["flags"], found["iif"], found["oif"]
    return (five, flags.group(1) if flags else None, iif.group(1) if iif else None,
            oif.group(1) if oif else None)


def parse(lines: Iterable[str]) -> list[PacketTrace]:
    """Group trace lines into packets, in the order they were first seen.

    The kernel's trace id identifies a packet while it is being traced, but ids are reused for
    later packets: a ``packet:`` line for a chain this id has already entered starts a new
    packet (a packet enters each base chain once).
    """
    packets: list[PacketTrace] = []
    open_: dict[str, PacketTrace] = {}
    for line in lines:
        ev = parse_line(line)
        if ev is None:
            continue
        current = open_.get(ev.id)
        if current is None or (ev.kind == "packet" and any(
                e.kind == "packet" and e.where == ev.where for e in current.events)):
            current = PacketTrace(ev.id)
            open_[ev.id] = current
            packets.append(current)
        current.events.append(ev)
        if ev.kind == "packet" and current.tuple is None:
            current.tuple, current.tcp_flags, current.iif, current.oif = header(ev.text)
    return _rejoin(packets)


_IDENTITY = re.compile(r"\bip id (\d+)\b.*?\bip length (\d+)\b")
REJOIN_WINDOW = 64  # packets back where a packet's earlier chains may be found


def _identity(p: PacketTrace) -> tuple[object, ...] | None:
    first = next((e for e in p.events if e.kind == "packet"), None)
    m = _IDENTITY.search(first.text) if first is not None else None
    if m is None or p.tuple is None:
        return None
    return (p.tuple, p.tcp_flags, m.group(1), m.group(2))


def _rejoin(packets: list[PacketTrace]) -> list[PacketTrace]:
    """One packet whose trace id changed between two chains is one packet again: the kernel's
    id follows the socket buffer, and a buffer that is copied on the way (a capture taps the
    bridge port) gets a new one, so the lab's prerouting chain and the policy's forward chain
    report the same SYN under two ids. Same 5-tuple, TCP flags, IP id and length, and no chain
    in common: the later part is appended to the earlier one."""
    out: list[PacketTrace] = []
    for p in packets:
        key = _identity(p)
        chains = {e.where for e in p.events if e.kind == "packet"}
        target = next((q for q in reversed(out[-REJOIN_WINDOW:]) if key is not None
                       and _identity(q) == key and not chains & {
                           e.where for e in q.events if e.kind == "packet"}), None)
        if target is None:
            out.append(p)
        else:
            target.events.extend(p.events)
    return out


def decide(events: Iterable[TraceEvent]) -> Decision | None:
    """The packet's fate from its events: the first drop, else the first rule accept, else the
    first policy accept, else (traced, but no chain of the user's rulesets gave a verdict) an
    accept that nothing decided (:attr:`Decision.unfiltered`). None for no events at all."""
    seen = False
    first_rule_accept: Decision | None = None
    first_policy_accept: Decision | None = None
    for ev in events:
        seen = True
        if ev.own or ev.verdict not in ("accept", "drop"):
            continue
        verdict: Verdict = "accept" if ev.verdict == "accept" else "drop"
        rule = ev.text if ev.kind == "rule" else None
        if verdict == "drop" and rule is not None and _REJECT.search(_COMMENT.sub("", rule)):
            verdict = "reject"
        d = Decision(verdict, ev.family, ev.table, ev.chain, rule, ev.handle)
        if verdict != "accept":
            return d
        if rule is not None and first_rule_accept is None:
            first_rule_accept = d
        elif rule is None and first_policy_accept is None:
            first_policy_accept = d
    if first_rule_accept or first_policy_accept:
        return first_rule_accept or first_policy_accept
    return Decision("accept", "", "", "", None, None) if seen else None
