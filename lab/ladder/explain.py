"""Why a step is missing, in a UC engineer's words, from evidence in the capture.

Evidence looked for: SIP error responses of the share dialog with their diagnostic headers (the
tech note's ``ms-diagnostics-public: 21002 ... Attendees cannot share``), STUN error responses
(RFC 8656 §18.11, RFC 6062 §6.3), TCP connections never answered or refused (and on which
interfaces their SYN was seen), and connections closed before their time (RFC 6062 §5.3: no
ConnectionBind within 30 s).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lab.ladder.analysis import Analysis
from lab.ladder.columns import Names
from lab.ladder.events import Connection, Event, Kind
from lab.ladder.steps import CMS, EXPE, SFB, StepResult

if TYPE_CHECKING:
    from lab.ladder.trail import Wire

_STUN_HINTS = {
    401: "wrong username, password or realm on the Meeting Server's TURN settings",
    441: "wrong credentials",
    442: "Expressway-E does not offer TCP relays (TURN over TCP, RFC 6062, came with X8.9)",
    486: "the allocation quota is reached",
    447: "the peer's connection timed out or failed on Expressway-E",
}


def _relayed(steps: list[StepResult]) -> str | None:
    """Expressway-E's relayed address for this call (step 9), as ``ip:port``."""
    return steps[8].values.get("XOR-RELAYED-ADDRESS") if len(steps) > 8 else None


def explain(step: StepResult, steps: list[StepResult], analysis: Analysis,
            names: Names, wire: Wire | None = None) -> list[str]:
    """Why ``step`` is missing; with the capture's taps (``wire``), where its packets stopped
    (the words of :mod:`lab.run.diagnose`, which ``uclab run`` prints too)."""
    n = step.number
    notes: list[str] = []
    relayed = _relayed(steps)
    if step.spec.sip:
        notes += _sip_errors(steps, analysis, names)
        notes += _connects(analysis, names, step.spec.sender, step.spec.receiver, wire=wire)
        notes += _sip_closed(step, analysis, names)
        notes += analysis.tls_notes
    elif n in (6, 7, 8, 9):
        notes += _turn_allocate(analysis, names)
    elif n == 10:
        notes += _stun_errors(analysis, names, "CreatePermission")
        notes.append("no CreatePermission for the Edge: Expressway-E refuses the Edge's "
                     "connection to the relayed address (RFC 6062 §5.3)")
    elif n == 17:
        notes += _connects(analysis, names, SFB, EXPE, first_to=relayed, wire=wire)
        if not notes and relayed:
            notes.append(f"the Skype Edge never connected to the relayed address {relayed}")
    elif n in (18, 19):
        notes += _connects(analysis, names, CMS, EXPE, wire=wire) + _stun_errors(analysis, names,
                                                                       "ConnectionBind")
        notes += _closed(analysis, names, relayed, bind_hint=True)
    elif n == 33:
        notes += _other_media(analysis, names) + _closed(analysis, names, relayed)
    else:
        notes += _closed(analysis, names, relayed)
    if not notes and not step.notes:  # a step lost on its way has its note already
        notes.append(_nothing(step, analysis, names))
    return notes


def _nothing(step: StepResult, analysis: Analysis, names: Names) -> str:
    """Nothing explains the step: say what the capture holds between its two columns."""
    sender = names.column(step.spec.sender).label
    receiver = names.column(step.spec.receiver).label
    if step.spec.sip:
        alike = [e for e in analysis.events if e.sip is not None
                 and names.role_of(e.src.ip) == step.spec.sender
                 and names.role_of(e.dst.ip) == step.spec.receiver
                 and _is_message(e, step.spec.message)]
        if alike:
            first = alike[0]
            call = first.sip.call_id if first.sip is not None else ""
            return (f"{len(alike)} {step.spec.message} from {sender} to {receiver} in the "
                    f"capture (first: frame {first.frame}, Call-ID {call}), none of them of "
                    "the share's dialog (an INVITE with m=applicationsharing and its answers)")
    return f"no {step.spec.message} from {sender} to {receiver} in the capture"


def _is_message(ev: Event, message: str) -> bool:
    s = ev.sip
    if s is None:
        return False
    if s.method is not None:
        return s.method == message
    return message.split(" ", 1)[0] == str(s.status)


def _other_media(analysis: Analysis, names: Names) -> list[str]:
    """Media between two columns that is not the share's: step 33 is RTP over TCP, framed per
    RFC 4571, on the relay path (flow.md §3); RTP over UDP is some other call's."""
    notes = []
    for leg in analysis.media:
        a, b = names.role_of(leg.src.ip), names.role_of(leg.dst.ip)
        if a is None or b is None or a == b or not leg.packets:
            continue
        if leg.transport != "TCP" or leg.framing != "RFC 4571":
            notes.append(f"RTP {leg.src} -> {leg.dst} over {leg.transport} ({leg.packets} "
                         f"packets from frame {leg.first_frame}) is not the share's media: "
                         "step 33 is RTP over TCP, RFC 4571 framed, on the relay path")
    return notes[:4]


def _who(names: Names, ev: Event) -> str:
    return names.name_of(ev.src.ip)


def _sip_errors(steps: list[StepResult], analysis: Analysis, names: Names) -> list[str]:
    """Each error response of the share dialog once, by the party that generated it, with the
    hops that passed it on (:mod:`lab.ladder.rejections`)."""
    from lab.ladder.rejections import rejections  # noqa: PLC0415 - it imports lab.ladder

    calls = {p.event.sip.call_id for s in steps if s.number in (1, 3, 5) for p in s.parts
             if p.event is not None and p.event.sip is not None}
    if not calls:
        return []  # no share INVITE: no SIP error is this share's (see Verdict.other)
    return [r.text for r in rejections(analysis.events, names.name_of, calls=calls)]


def _connects(analysis: Analysis, names: Names, sender: str, receiver: str, *,
              first_to: str | None = None, wire: Wire | None = None) -> list[str]:
    """Connection set-ups between two columns that failed; those to ``first_to`` first."""
    failed = [(ev, ev.tcp) for ev in analysis.events
              if ev.kind is Kind.TCP and ev.tcp is not None and ev.tcp.outcome != "established"
              and names.role_of(ev.src.ip) == sender and names.role_of(ev.dst.ip) == receiver]
    failed.sort(key=lambda pair: str(pair[0].dst) != first_to)
    notes = []
    for ev, tcp in failed:
        where = ", ".join(tcp.seen_on)
        if tcp.outcome == "refused":
            notes.append(f"TCP connect {ev.src} -> {ev.dst} refused (RST) (frame {ev.frame}); "
                         f"seen on {where}")
        elif wire is not None:
            from lab.ladder.connects import never_answered  # noqa: PLC0415 - as above

            notes.append(f"TCP connect {ev.src} -> {ev.dst} never answered ({tcp.syns} SYN, "
                         f"frame {ev.frame}): {never_answered(ev, wire.taps, wire.paths)}")
        else:
            notes.append(f"TCP connect {ev.src} -> {ev.dst} never answered ({tcp.syns} SYN, "
                         f"frame {ev.frame}): the SYN was seen on {where}")
    return notes


def _stun_errors(analysis: Analysis, names: Names, method: str) -> list[str]:
    """Expressway-E's error responses to the Meeting Server's ``method`` requests."""
    notes = []
    for ev in analysis.events:
        st = ev.stun
        if st is None or st.method != method or st.error is None:
            continue
        if names.role_of(ev.src.ip) != EXPE or names.role_of(ev.dst.ip) != CMS:
            continue
        code, reason = st.error
        hint = _STUN_HINTS.get(code, "")
        notes.append(f"{_who(names, ev)} answered {method} with {code} {reason} "
                     f"(frame {ev.frame})" + (f": {hint}" if hint else ""))
    return notes


def _turn_allocate(analysis: Analysis, names: Names) -> list[str]:
    """Allocate trouble: errors after credentials, UDP only, no TCP to 3478, no answer."""
    notes: list[str] = []
    signed: set[str] = set()
    other_relay: set[str] = set()  # transactions asking for a relay that is not TCP
    udp_only = True
    for ev in analysis.events:
        st = ev.stun
        if st is None or st.method != "Allocate" or names.role_of(ev.src.ip) not in (CMS, EXPE):
            continue
        if ev.transport != "UDP":
            udp_only = False
        if st.cls == "request" and st.requested_transport not in (None, 6):
            other_relay.add(st.transaction_id)
            rt = {17: "17 (UDP)"}.get(st.requested_transport, str(st.requested_transport))
            if len(notes) < 4:
                notes.append(f"the Allocate {ev.src} -> {ev.dst} (frame {ev.frame}) asks for "
                             f"REQUESTED-TRANSPORT {rt}: that is not the share's allocation, "
                             "which asks for a TCP relay (6, RFC 6062 §4.1)")
            continue
        if st.cls == "request" and st.integrity:
            signed.add(st.transaction_id)
        if st.transaction_id in other_relay:
            continue
        if st.error is not None and (st.error[0] != 401 or st.transaction_id in signed):
            code, reason = st.error
            notes.append(f"{_who(names, ev)} rejected the Allocate with {code} {reason} "
                         f"(frame {ev.frame}): {_STUN_HINTS.get(code, 'see RFC 8656 §18.11')}")
    sent = [e for e in analysis.events if e.stun and e.stun.method == "Allocate"
            and names.role_of(e.src.ip) == CMS]
    if sent and udp_only:
        notes.append("the Meeting Server tried TURN over UDP only: TCP to 3478 is needed")
    notes += _connects(analysis, names, CMS, EXPE)
    return notes


def _closed(analysis: Analysis, names: Names, relayed: str | None, *,
            bind_hint: bool = False) -> list[str]:
    """The Edge's connections to the relayed address that were closed."""
    return [_closing(conn, names, bind_hint=bind_hint) for conn in analysis.connections
            if str(conn.server) == relayed and conn.close_ns is not None
            and conn.syn_ns is not None and conn.established]


def _sip_closed(step: StepResult, analysis: Analysis, names: Names) -> list[str]:
    """Connections between the step's two nodes that its sender closed instead of sending the
    step (a process that dies closes its sockets: FIN, or RST with unread data)."""
    ends = {step.spec.sender, step.spec.receiver}
    return [f"{_closing(conn, names, bind_hint=False)} without sending its {step.spec.message}"
            for conn in analysis.connections
            if conn.established and conn.closed_by is not None
            and {names.role_of(conn.client.ip), names.role_of(conn.server.ip)} == ends
            and names.role_of(conn.closed_by.ip) == step.spec.sender]


def _closing(conn: Connection, names: Names, *, bind_hint: bool) -> str:
    who = names.name_of(conn.closed_by.ip) if conn.closed_by else "?"
    life = ((conn.close_ns or 0) - (conn.syn_ns or 0)) / 1e9
    text = (f"{who} closed the connection {conn.client} -> {conn.server} ({conn.close_kind}) "
            f"after {life:.1f} s")
    if bind_hint and conn.closed_by == conn.server:
        text += (": with no ConnectionBind for it, the TURN server closes the peer's connection "
                 "after 30 s (RFC 6062 §5.3)")
    return text
