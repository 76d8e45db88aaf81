"""The TURN, ICE and media steps of flow.md §3: the Meeting Server's TCP allocation on
Expressway-E (6-10, RFC 8656 §7 and RFC 6062 §4.1), the Edge's connection to the relayed address
and its bridging (17-20, RFC 6062 §5.3, §4.4), the ICE checks both ways over the bridged path
(21-23, RFC 8445 §7.2.5 with MS-ICE2 RFC 4571 framing) and the media (33)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lab.ladder.context import Context, first, observe
from lab.ladder.events import Connection, Endpoint, Event, Kind, MediaLeg, StunInfo
from lab.ladder.steps import CMS, EXPE, SFB, Observation, StepResult

EvPred = Callable[[Event, StunInfo], bool]


@dataclass
class _Path:
    """The bridged path: the Edge's connection to the relay and the bound data connection."""

    peer: Connection | None = None
    data: Connection | None = None

    def legs(self, towards_cms: bool) -> list[tuple[Connection | None, bool, tuple[str, str]]]:
        """(connection, client-to-server?, fallback roles) of both legs in one direction."""
        if towards_cms:
            return [(self.peer, True, (SFB, EXPE)), (self.data, False, (EXPE, CMS))]
        return [(self.data, True, (CMS, EXPE)), (self.peer, False, (EXPE, SFB))]


def _on_leg(ctx: Context, ev: Event, leg: tuple[Connection | None, bool, tuple[str, str]]) -> bool:
    conn, up, roles = leg
    if conn is None:
        return ev.framing == "RFC 4571" and ctx.between(ev, *roles)
    sender = conn.client if up else conn.server
    return ev.conn == conn.index and ev.src == sender


def _stun_values(ev: Event | None) -> dict[str, str]:
    if ev is None or ev.stun is None:
        return {}
    s = ev.stun
    values = {"from": str(ev.src), "to": str(ev.dst), "transport": ev.transport}
    pairs: list[tuple[str, object]] = [
        ("ERROR-CODE", f"{s.error[0]} {s.error[1]}".strip() if s.error else None),
        ("REQUESTED-TRANSPORT", {6: "6 (TCP)", 17: "17 (UDP)"}.get(s.requested_transport or 0,
                                                                  s.requested_transport)),
        ("USERNAME", s.username), ("REALM", s.realm),
        ("NONCE", "present" if s.nonce else None),
        ("MESSAGE-INTEGRITY", "present" if s.integrity else None),
        ("XOR-RELAYED-ADDRESS", s.xor_relayed), ("XOR-MAPPED-ADDRESS", s.xor_mapped),
        ("XOR-PEER-ADDRESS", ", ".join(str(p) for p in s.xor_peer) or None),
        ("CONNECTION-ID", s.connection_id), ("LIFETIME", s.lifetime),
        ("transaction", s.transaction_id),
    ]
    values.update({k: str(v) for k, v in pairs if v is not None})
    if ev.framing:
        values["framing"] = ev.framing
        values["first bytes"] = ev.head.hex(" ")
    return values


def _allocation(ctx: Context, after5: int | None, out: dict[int, StepResult]) -> Event | None:
    """Steps 6-9; returns the Allocate success (or the last Allocate seen)."""
    tcp_relay = {s.transaction_id for e in ctx.stuns(
        lambda e, s: s.method == "Allocate" and s.cls == "request"
        and s.requested_transport == 6) if (s := e.stun) is not None}

    def alloc(cls: str, sender: str, receiver: str) -> EvPred:
        """An Allocate of an RFC 6062 allocation: over TCP/TLS, for a TCP relay (the request
        says REQUESTED-TRANSPORT 6; a response answers such a request)."""
        return lambda e, s: (s.method == "Allocate" and s.cls == cls and e.transport != "UDP"
                             and s.transaction_id in tcp_relay
                             and ctx.between(e, sender, receiver))

    success = first(ctx.stuns(alloc("success", EXPE, CMS), after5)) or first(
        ctx.stuns(alloc("success", EXPE, CMS)))
    requests = ctx.stuns(alloc("request", CMS, EXPE), after5) or ctx.stuns(
        alloc("request", CMS, EXPE))
    if success is not None and success.stun is not None:
        tid = success.stun.transaction_id
        req8 = first([e for e in requests if e.stun and e.stun.transaction_id == tid])
    else:
        req8 = first([e for e in requests if e.stun and e.stun.integrity])
    before8 = [e for e in ctx.stuns(alloc("error", EXPE, CMS))
               if e.stun and e.stun.error and e.stun.error[0] == 401
               and (req8 is None or e.ts_ns <= req8.ts_ns)]
    err7 = before8[-1] if req8 is not None and before8 else first(before8)
    tid7 = err7.stun.transaction_id if err7 is not None and err7.stun else None
    req6 = first([e for e in requests if e.stun and e.stun.transaction_id == tid7]) or first(
        [e for e in requests if e.stun and not e.stun.integrity])
    for number, ev, label in ((6, req6, "Allocate Request"), (7, err7, "401 Unauthorized"),
                              (8, req8, "Allocate Request"), (9, success, "Allocate Success")):
        out[number] = ctx.result(number, [observe(label, ev)], _stun_values(ev))
    return success or req8 or req6


def _permission(ctx: Context, control: Connection | None, after: int | None,
                out: dict[int, StepResult]) -> None:
    def pred(e: Event, s: StunInfo) -> bool:
        on_control = control is None or e.conn == control.index
        return (s.method == "CreatePermission" and s.cls == "request" and on_control
                and ctx.between(e, CMS, EXPE))

    req = first(ctx.stuns(pred, after))
    ok = ctx.answer(req, lambda s: s.cls == "success")
    values = _stun_values(req)
    if req is not None and req.stun is not None:
        values["permission for"] = ", ".join(sorted({p.ip for p in req.stun.xor_peer}))
    out[10] = ctx.result(10, [observe("CreatePermission Request", req),
                              observe("CreatePermission Success", ok)], values)


def _peer_connect(ctx: Context, relayed: Endpoint | None, out: dict[int, StepResult]
                  ) -> tuple[Connection | None, Event | None]:
    """Step 17: the Edge's TCP connection to the relayed address and the check it carries."""
    def to_relay(e: Event) -> bool:
        if e.kind is not Kind.TCP or ctx.role(e.src.ip) != SFB:
            return False
        if relayed is not None:
            return e.dst == relayed
        conn = ctx.conn(e)  # no allocation seen: any connection to Expressway-E but SIP's
        signalling = (e.tcp is not None and e.tcp.tls) or (conn is not None
                                                            and "SIP" in conn.protocol)
        return ctx.role(e.dst.ip) == EXPE and not signalling

    attempts = [e for e in ctx.analysis.events if to_relay(e)]
    established = [e for e in attempts if e.tcp and e.tcp.outcome == "established"]
    connect = first(established) or first(attempts)
    conn = ctx.conn(connect)
    check = None
    if conn is not None:
        check = first(ctx.stuns(lambda e, s: e.conn == conn.index and e.src == conn.client
                                and s.method == "Binding" and s.cls == "request"))
    ok = connect is not None and connect.tcp is not None and connect.tcp.outcome == "established"
    note = "" if connect is None or ok else f"TCP connect: {connect.tcp and connect.tcp.outcome}"
    parts = [Observation("TCP connect", connect.ts_ns, connect.frame, connect, ok, note=note)
             if connect is not None else observe("TCP connect", None),
             observe("Binding Request", check)]
    values = {"from": str(connect.src), "to": str(connect.dst)} if connect else {}
    if check is not None:
        values["first bytes"] = check.head.hex(" ")
        values["transaction"] = check.stun.transaction_id if check.stun else ""
    out[17] = ctx.result(17, parts, values)
    return conn, check


def _bind(ctx: Context, control: Connection | None, peer: Connection | None,
          after: int | None, out: dict[int, StepResult]) -> Connection | None:
    """Steps 18-19: ConnectionAttempt on the control connection, ConnectionBind on a new one."""
    def attempt(e: Event, s: StunInfo) -> bool:
        on_control = control is None or e.conn == control.index
        return s.method == "ConnectionAttempt" and on_control and ctx.between(e, EXPE, CMS)

    attempts = ctx.stuns(attempt, after)
    mine = [e for e in attempts if peer is not None and e.stun and peer.client in e.stun.xor_peer]
    ca = first(mine) or first(attempts)
    out[18] = ctx.result(18, [observe("ConnectionAttempt Indication", ca)], _stun_values(ca))
    cid = ca.stun.connection_id if ca is not None and ca.stun else None
    bind = first(ctx.stuns(lambda e, s: s.method == "ConnectionBind" and s.cls == "request"
                           and ctx.between(e, CMS, EXPE)
                           and (cid is None or s.connection_id == cid), after))
    ok = ctx.answer(bind, lambda s: s.cls == "success")
    values = _stun_values(bind)
    data = ctx.conn(bind)
    if data is not None:
        values["new connection"] = "yes" if control is None or data.index != control.index else "no"
    out[19] = ctx.result(19, [observe("ConnectionBind Request", bind),
                              observe("ConnectionBind Success", ok)], values)
    return data


def _check_step(ctx: Context, number: int, path: _Path, towards_cms: bool, *,
                pred: Callable[[StunInfo], bool], after: int | None) -> StepResult:
    """An ICE check message seen on either leg of the bridged path (earliest is the step)."""
    found: list[tuple[str, Event]] = []
    for leg, label in zip(path.legs(towards_cms), ("first leg", "second leg"), strict=True):
        ev = first([e for e in ctx.stuns(lambda e, s: pred(s), after) if _on_leg(ctx, e, leg)])
        if ev is not None:
            found.append((label, ev))
    found.sort(key=lambda p: p[1].ts_ns)
    label = {True: "towards the Meeting Server", False: "towards the Skype Edge"}[towards_cms]
    if not found:
        return ctx.result(number, [observe(label, None)])
    parts = [observe(f"{label} ({where})", ev, required=i == 0)
             for i, (where, ev) in enumerate(found)]
    return ctx.result(number, parts, _stun_values(found[0][1]))


def _ice(ctx: Context, path: _Path, check17: Event | None, after19: int | None,
         out: dict[int, StepResult]) -> None:
    tid17 = check17.stun.transaction_id if check17 is not None and check17.stun else None
    def binding(cls: str) -> Callable[[StunInfo], bool]:
        return lambda s: s.method == "Binding" and s.cls == cls

    data_leg = path.legs(True)[1]
    delivered = first(ctx.stuns(lambda e, s: _on_leg(ctx, e, data_leg) and binding("request")(s)
                                and (tid17 is None or s.transaction_id == tid17), after19))
    values = _stun_values(delivered)
    if delivered is not None and delivered.stun is not None and tid17 is not None:
        values["same transaction as step 17"] = "yes"
    out[20] = ctx.result(20, [observe("Binding Request delivered", delivered)], values)
    tid20 = delivered.stun.transaction_id if delivered is not None and delivered.stun else tid17
    out[21] = _check_step(ctx, 21, path, False, after=after19, pred=lambda s: binding(
        "success")(s) and (tid20 is None or s.transaction_id == tid20))
    out[22] = _check_step(ctx, 22, path, False, after=after19, pred=lambda s: binding(
        "request")(s) and s.transaction_id != tid20)
    req22 = out[22].first
    tid22 = req22.event.stun.transaction_id if req22 and req22.event and req22.event.stun else ""
    out[23] = _check_step(ctx, 23, path, True, after=after19, pred=lambda s: binding(
        "success")(s) and s.transaction_id == tid22)


def _media(ctx: Context, path: _Path) -> StepResult:
    parts: list[Observation] = []
    values: dict[str, str] = {}
    directions = ((True, "Skype -> Meeting Server"), (False, "Meeting Server -> Skype"))
    for towards_cms, label in directions:
        legs = [m for m in ctx.analysis.media if m.packets and any(
            _media_on(ctx, m, leg) for leg in path.legs(towards_cms))]
        best: MediaLeg | None = min(legs, key=lambda m: m.first_ns) if legs else None
        if best is None:
            parts.append(Observation(label))
            continue
        parts.append(Observation(label, best.first_ns, best.first_frame, ok=True))
        pts = ",".join(str(p) for p in best.payload_types) or best.framing
        values[f"{label}"] = (f"{best.packets} packets, {best.octets} bytes, PT {pts}, "
                              f"{best.framing}, lost {best.lost}")
    return ctx.result(33, parts, values)


def _media_on(ctx: Context, m: MediaLeg, leg: tuple[Connection | None, bool, tuple[str, str]]
              ) -> bool:
    conn, up, roles = leg
    if conn is None:  # the path was not seen: RTP over TCP, RFC 4571 framed, between the roles
        return (m.transport == "TCP" and m.framing == "RFC 4571"
                and ctx.role(m.src.ip) == roles[0] and ctx.role(m.dst.ip) == roles[1])
    return m.conn == conn.index and m.src == (conn.client if up else conn.server)


def match_turn(ctx: Context, after5: int | None) -> dict[int, StepResult]:
    out: dict[int, StepResult] = {}
    alloc = _allocation(ctx, after5, out)
    control = ctx.conn(alloc)
    success = out[9].first
    relayed = (success.event.stun.xor_relayed
               if success and success.event and success.event.stun else None)
    after9 = success.ts_ns if success else None
    _permission(ctx, control, after9, out)
    peer, check17 = _peer_connect(ctx, relayed, out)
    data = _bind(ctx, control, peer, after9, out)
    path = _Path(peer, data)
    bound = out[19].parts[1] if len(out[19].parts) > 1 else None
    after19 = bound.ts_ns if bound is not None and bound.ok else None
    _ice(ctx, path, check17, after19, out)
    out[33] = _media(ctx, path)
    return out
