"""A TCP connect that failed, followed across the taps (RFC 9293 §3.5).

A connect never answered at its client has two places to die: its SYN never reached the
server (:meth:`Taps.fate` of the SYN says where it stopped), or the server answered and its
SYN+ACK never came back (the fate of the SYN+ACK says where that stopped: a stateless rule set
that lets new SYNs through and has no rule for the replies drops it in the firewall).
"""

from __future__ import annotations

from lab.ladder.events import Event
from lab.ladder.packets import PROTO_TCP, TCP_ACK, TCP_RST, TCP_SYN, Segment
from lab.ladder.trail import Fate, Paths, Taps, direction


def answers(taps: Taps, syn: Segment) -> list[Segment]:
    """The server's SYN+ACKs (or RSTs) to the connection ``syn`` opens, first copies."""
    back = (PROTO_TCP, syn.dst, syn.dport, syn.src, syn.sport)
    return [s for s in taps.packets(back)
            if s.flags & (TCP_SYN | TCP_ACK) == TCP_SYN | TCP_ACK or s.flags & TCP_RST]


def never_answered(ev: Event, taps: Taps, paths: Paths | None) -> str:
    """Why the client of connect ``ev`` got no answer: where the SYN, or the answer, stopped."""
    syn = taps.by_frame.get(ev.frame)
    if syn is None or syn.proto != PROTO_TCP or direction(syn)[1:] != (
            ev.src.ip, ev.src.port, ev.dst.ip, ev.dst.port):
        return "the SYN is not in the capture"
    fate = taps.fate(syn, paths)
    server = paths.name(ev.dst.ip) if paths is not None else str(ev.dst.ip)
    if fate.where != "delivered":
        return f"the SYN {_stopped(fate)}"
    replies = answers(taps, syn)
    if not replies:
        return f"the SYN {fate.text}, and {server} never answered it"
    reply = replies[0]
    kind = "RST" if reply.flags & TCP_RST else "SYN+ACK"
    copies = max((taps.count(r, t) for r in replies for t in taps.order(r)), default=0)
    first_tap = taps.order(reply)[0] if taps.order(reply) else "?"
    back = taps.fate(reply, paths)
    head = f"the SYN {fate.text}; {server} answered ({copies} {kind} on {first_tap})"
    if back.where == "delivered":
        return f"{head}, and the answer reached the client"
    return f"{head}, but the {kind} {_stopped(back)}"


def _stopped(fate: Fate) -> str:
    """The fate's words, with the conclusion a UC engineer draws from them."""
    if fate.where == "bridge" and fate.path is not None:
        return f"{fate.text}: dropped at {fate.path.bridge}"
    return fate.text
