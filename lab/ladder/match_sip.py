"""The SIP steps of flow.md §3: the share INVITE over three hops with its 100 Trying, 200 OK and
ACK (steps 1-5, 11-16), then the re-INVITE dialog (24-32), matched per hop by Call-ID and CSeq
(RFC 3261 §8.1.1.4, §8.1.1.5, §17.1.1.3)."""

from __future__ import annotations

from collections.abc import Callable

from lab.ladder.context import Context, first, observe, sdp_text
from lab.ladder.events import Event, SipInfo
from lab.ladder.steps import CMS, EXPC, EXPE, SFB, StepResult

#: interfaces' clocks may disagree by this much (lab.ladder.check.ORDER_TOLERANCE_NS)
ORDER_TOLERANCE_NS = 1_000_000

HOPS: tuple[tuple[str, str], ...] = ((SFB, EXPE), (EXPE, EXPC), (EXPC, CMS))
INVITES, TRYINGS = (1, 3, 5), (2, 4, None)
OKS, ACKS = (13, 12, 11), (14, 15, 16)  # indexed by hop
RE_INVITES, RE_OKS, RE_ACKS = (24, 25, 26), (29, 28, 27), (30, 31, 32)


def _is_share_invite(s: SipInfo) -> bool:
    return s.method == "INVITE" and not s.to_tag and "applicationsharing" in s.media


def _values(ev: Event | None) -> dict[str, str]:
    if ev is None or ev.sip is None:
        return {}
    values = {"from": str(ev.src), "to": str(ev.dst), "transport": ev.transport,
              "Call-ID": ev.sip.call_id, "CSeq": f"{ev.sip.cseq} {ev.sip.cseq_method}"}
    if ev.sip.body.strip():
        values["SDP"] = sdp_text(ev.sip.body)
    if ev.sip.diagnostics:
        values["diagnostics"] = "; ".join(ev.sip.diagnostics)
    return values


def _pick(ctx: Context, hop: tuple[str, str], pred: Callable[[SipInfo], bool],
          after: int | None, call_id: str | None) -> Event | None:
    found = ctx.sips(hop[0], hop[1], pred, after)
    same = [e for e in found if e.sip is not None and e.sip.call_id == call_id]
    return first(same) or first(found)


def _response(ctx: Context, req: Event | None, hop: tuple[str, str], code: int) -> Event | None:
    if req is None or req.sip is None:
        return None
    s = req.sip
    found = ctx.sips(hop[1], hop[0], lambda r: r.status == code and r.call_id == s.call_id
                     and r.cseq == s.cseq and r.cseq_method == "INVITE", req.ts_ns)
    return first(found)


def _ack(ctx: Context, req: Event | None, ok: Event | None, hop: tuple[str, str]
         ) -> Event | None:
    """The ACK of the 200 OK ``ok`` (RFC 3261 §13.2.2.4). Without a 200 OK there is none: the
    ACK of an error response belongs to the INVITE transaction, hop by hop (§17.1.1.3), and is
    not a step of the ladder."""
    if req is None or req.sip is None or ok is None:
        return None
    s = req.sip
    return first(ctx.sips(hop[0], hop[1], lambda r: r.method == "ACK" and r.call_id == s.call_id
                          and r.cseq == s.cseq, ok.ts_ns - ORDER_TOLERANCE_NS))


def _reinvite(ctx: Context, inv: Event | None, hop: tuple[str, str]) -> Event | None:
    """An in-dialog INVITE (To tag set, higher CSeq) on the hop of ``inv`` (RFC 3261 §14.1)."""
    if inv is None or inv.sip is None:
        return None
    base = inv.sip

    def pred(s: SipInfo) -> bool:
        return (s.method == "INVITE" and s.call_id == base.call_id and bool(s.to_tag)
                and s.cseq > base.cseq)

    return first(ctx.sips(hop[0], hop[1], pred, inv.ts_ns))


def _dialog(ctx: Context, numbers: tuple[tuple[int, ...], ...], invites: list[Event | None],
            out: dict[int, StepResult]) -> None:
    """200 OK and ACK of each hop's INVITE (``numbers``: OK steps, ACK steps per hop)."""
    oks, acks = numbers
    for k, hop in enumerate(HOPS):
        ok = _response(ctx, invites[k], hop, 200)
        out[oks[k]] = ctx.result(oks[k], [observe("200 OK", ok)], _values(ok))
        ack = _ack(ctx, invites[k], ok, hop)
        out[acks[k]] = ctx.result(acks[k], [observe("ACK", ack)], _values(ack))


def match_sip(ctx: Context) -> dict[int, StepResult]:
    out: dict[int, StepResult] = {}
    invites: list[Event | None] = []
    after: int | None = None
    call: str | None = None
    for k, hop in enumerate(HOPS):
        inv = _pick(ctx, hop, _is_share_invite, after, call)
        out[INVITES[k]] = ctx.result(INVITES[k], [observe("INVITE", inv)], _values(inv))
        trying_step = TRYINGS[k]
        if trying_step is not None:
            trying = _response(ctx, inv, hop, 100)
            out[trying_step] = ctx.result(trying_step, [observe("100 Trying", trying)],
                                          _values(trying))
        invites.append(inv)
        if inv is not None and inv.sip is not None:
            after, call = inv.ts_ns, inv.sip.call_id
    _dialog(ctx, (OKS, ACKS), invites, out)
    reinvites: list[Event | None] = []
    for k, hop in enumerate(HOPS):
        inv = invites[k]
        re_inv = _reinvite(ctx, inv, hop)
        out[RE_INVITES[k]] = ctx.result(RE_INVITES[k], [observe("re-INVITE", re_inv)],
                                        _values(re_inv))
        reinvites.append(re_inv)
    _dialog(ctx, (RE_OKS, RE_ACKS), reinvites, out)
    return out
