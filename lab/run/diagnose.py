"""The diagnosis, in a UC engineer's words, computed from the capture and its ladder: one engine,
read by ``uclab run`` (after its ladder), ``uclab ladder`` (on any capture, with the lab's
topology when the capture is the lab's) and ``uclab firewall check`` (its run of the call). Its
parts live beside the ladder, which reads them too (its verdict's reasons say the same):
:mod:`lab.ladder.trail` (each packet followed across the taps: sender, each bridge port,
receiver), :mod:`lab.ladder.connects` (a connect never answered: where its SYN, or its SYN+ACK,
stopped), :mod:`lab.ladder.rejections` (a response forwarded by proxies is one rejection, by
its author, with the hops it crossed), :mod:`lab.ladder.delivery` (a step is seen where its
receiver's tap saw it).

    lines = diagnose(ladder, capture, topo, time_scale=0.1)

Nothing here is told what went wrong: every line is read from the wire (the ladder's analysis
of the merged capture, and the capture's TCP segments on every interface). It adds to the
ladder's own reasons for the step where it stopped (:mod:`lab.ladder.verdict`):

* the share INVITE rejected, by whom, with its diagnostic headers (RFC 3261 §21, the tech
  note's ``ms-diagnostics-public: 21002``);
* TURN errors that are not the normal first 401 (RFC 8656 §18.11, RFC 6062 §6.3: 401 again
  after credentials, 442 when TCP relays are not offered, 486, 447...);
* the Meeting Server's answer without a relay candidate (it falls back to its host address,
  which the Skype side cannot reach);
* TCP connections never answered or refused, the required flow of ports.md they belong to and
  *where* the SYN stopped, or, when the server answered, where its SYN+ACK stopped
  (:mod:`lab.ladder.connects`);
* the Skype Edge's connection to the relayed address closed by Expressway-E with no
  ConnectionBind (RFC 6062 §5.3);
* TCP retransmissions (RFC 9293 §3.8.1); packets lost on a link (they left a bridge port and
  never reached the interface at its other end), and packets that entered a firewall and never
  left it: not forwarded onto a port whose link had lost packets already (a loss on the link),
  else dropped there (:mod:`lab.ladder.trail`);
* the time scale of the run, when its long timers were shortened.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterable

from lab.base.errors import InputError
from lab.capture import Capture
from lab.ladder import Ladder
from lab.ladder.connects import never_answered
from lab.ladder.events import Connection, Kind
from lab.ladder.packets import PROTO_TCP, TCP_ACK, TCP_SYN, Segment, segments
from lab.ladder.rejections import rejections
from lab.ladder.trail import MOD, Direction, Paths, Taps, direction
from lab.proto.ice import IceConfig
from lab.proto.turn.config import CLIENT_TIMEOUT, TurnServerConfig
from lab.rulesets.flows import RequiredFlow, required_flows
from lab.topology import Topology

#: What a STUN error code means for this call (RFC 8656 §18.11, RFC 6062 §6.3).
TURN_MEANING = {
    401: "the Meeting Server's TURN username, password or realm is wrong",
    438: "stale nonce",
    441: "the ConnectionBind's credentials are not the allocation's",
    442: "Expressway-E offers no TCP relays: TURN over TCP (RFC 6062) came with Expressway X8.9",
    446: "a connection to that peer exists already",
    447: "the relay could not connect to the peer (timeout or refused)",
    486: "the allocation quota is reached",
    508: "no relay port left",
}
#: The daemons' timers that a scenario's ``time_scale`` shortens (nodes/turn.py, nodes/cms.py).
def timers(time_scale: float) -> list[tuple[str, float, float]]:
    """The timers a scenario's time scale changes: (what, seconds, seconds at that scale)."""
    ice, scaled = IceConfig(), IceConfig().scaled(time_scale)
    bind = TurnServerConfig.bind_timeout
    return [("Expressway-E's ConnectionBind timer", bind, bind * time_scale),
            ("the Meeting Server's TURN timeout", CLIENT_TIMEOUT, CLIENT_TIMEOUT * time_scale),
            ("the ICE agents' connect timeout", ice.connect_timeout, scaled.connect_timeout),
            ("their check timeout", ice.check_timeout, scaled.check_timeout)]


def diagnose(ladder: Ladder, capture: Capture | Taps, topo: Topology | None, *,
             time_scale: float = 1.0, no_carrier: frozenset[str] = frozenset()) -> list[str]:
    """The diagnosis lines of one capture (see the module docstring), most telling first.
    Without a topology (a customer's capture), what needs the lab's paths is left out.
    ``no_carrier``: the bridge ports (``fw-outside:sfb-edge``) the run found without a
    carrier at the end of the call (lab.lifecycle.status.ports_without_carrier): a bridge
    forwards nothing onto such a port, whatever its policy says."""
    taps = capture if isinstance(capture, Taps) else Taps(segments(capture))
    paths = Paths(topo) if topo is not None else None
    lines = _rejections(ladder, paths)
    lines += _failed_connects(ladder, taps, paths)
    lines += _turn_errors(ladder, paths)
    lines += _unbound(ladder, paths, time_scale)
    lines += _host_only(ladder)
    lines += _losses(taps, paths, no_carrier)
    if time_scale != 1:
        changed = ", ".join(f"{what} {now:g} s instead of {seconds:g} s"
                            for what, seconds, now in timers(time_scale))
        lines.append(f"time scale {time_scale:g}: the long protocol timers ran "
                     f"{1 / time_scale:g} times faster ({changed})")
    return list(dict.fromkeys(lines))


def _node(paths: Paths | None, ip: str) -> str:
    return paths.name(ip) if paths is not None else ip


def _at(paths: Paths | None, ip: str, port: int) -> str:
    """``cms 10.48.54.230:33347`` in a lab, ``10.48.54.230:33347`` without its topology."""
    node = _node(paths, ip)
    return f"{ip}:{port}" if node == ip else f"{node} {ip}:{port}"


def who(ladder: Ladder, paths: Paths | None, ip: str) -> str:
    """``Expressway-E (expressway-e)``: the column label and, in a lab, the node."""
    label = ladder.names.name_of(ip)
    node = _node(paths, ip)
    return label if node in (ip, label) else f"{label} ({node})"


def _share_calls(ladder: Ladder) -> set[str]:
    return {e.sip.call_id for e in ladder.analysis.events
            if e.sip is not None and e.sip.method == "INVITE" and not e.sip.to_tag
            and "applicationsharing" in e.sip.media}


def _rejections(ladder: Ladder, paths: Paths | None) -> list[str]:
    """Each rejection of the share INVITE, once, by the party that generated it."""
    out = []
    for r in rejections(ladder.analysis.events, lambda ip: who(ladder, paths, ip),
                        calls=_share_calls(ladder), method="INVITE"):
        text = f"{r.author} rejected the share INVITE with {r.status} {r.reason} (frame {r.frame})"
        if r.diagnostics:
            text += ": " + "; ".join(r.diagnostics)
        if r.hops:
            text += f"; passed on by {', '.join(r.hops)}"
        out.append(text)
    return out


def _turn_errors(ladder: Ladder, paths: Paths | None) -> list[str]:
    """TURN errors to the Meeting Server, except the 401 that answers a request without
    credentials (the normal challenge, flow.md step 7). The Skype side's own TURN errors are
    left out: its Edge answers 447 to the Connect towards CMS's unreachable host candidate in
    every run (an ICE pair that cannot work, docs/ice-media.md)."""
    signed = {e.stun.transaction_id for e in ladder.analysis.events
              if e.stun is not None and e.stun.cls == "request" and e.stun.integrity}
    out, seen = [], set()
    for ev in ladder.analysis.events:
        st = ev.stun
        if st is None or st.error is None or st.transaction_id in seen or \
                ladder.names.role_of(ev.dst.ip) != "cms":
            continue
        seen.add(st.transaction_id)
        code, reason = st.error
        if code == 401 and st.transaction_id not in signed:
            continue
        signed_text = " with credentials" if st.transaction_id in signed else ""
        out.append(f"{ladder.names.name_of(ev.src.ip)} rejected {_node(paths, ev.dst.ip)}'s "
                   f"{st.method}{signed_text}: {code} {reason} (frame {ev.frame}): "
                   f"{TURN_MEANING.get(code, 'see RFC 8656 §18.11')}")
    return out


def _host_only(ladder: Ladder) -> list[str]:
    """The Meeting Server's answer (step 11) without a relay candidate."""
    sdp = ladder.steps[10].values.get("SDP", "")
    cands = [line for line in sdp.split("\n") if line.startswith("a=candidate:")]
    if not cands or any(" typ relay" in c for c in cands):
        return []
    hosts = [f"{p[4]}:{p[5]}" for p in (c.split() for c in cands) if len(p) > 5]
    return [f"the Meeting Server answered with its host candidate only ({', '.join(hosts)}): "
            "no relay candidate on Expressway-E, and the Skype side cannot reach a host "
            "address on the video network, so no share"]


def _flow(flows: Iterable[RequiredFlow], src: str, sport: int, dst: str, dport: int
          ) -> RequiredFlow | None:
    for f in flows:
        if (str(f.src), str(f.dst)) == (src, dst) and dport in f.dport and (
                f.sport is None or sport in f.sport):
            return f
    return None


def _failed_connects(ladder: Ladder, taps: Taps, paths: Paths | None) -> list[str]:
    out = []
    flows: Iterable[RequiredFlow] = ()
    if paths is not None:
        with contextlib.suppress(InputError):  # a topology without the roles of ports.md
            flows = required_flows(paths.topo)
    for ev in ladder.analysis.events:
        tcp = ev.tcp
        if ev.kind is not Kind.TCP or tcp is None or tcp.outcome == "established":
            continue
        if ladder.names.role_of(ev.src.ip) is None or ladder.names.role_of(ev.dst.ip) is None:
            continue  # not between two of the call's nodes (the client's doomed host checks)
        f = _flow(flows, ev.src.ip, ev.src.port, ev.dst.ip, ev.dst.port)
        what = f" (ports.md {f.id}: {f.why})" if f is not None else ""
        head = (f"TCP connect {_at(paths, ev.src.ip, ev.src.port)} -> "
                f"{_at(paths, ev.dst.ip, ev.dst.port)}{what}")
        if tcp.outcome == "refused":
            out.append(f"{head} refused (RST, frame {ev.frame})")
        else:
            out.append(f"{head} never answered ({tcp.syns} SYN, frame {ev.frame}): "
                       f"{never_answered(ev, taps, paths)}")
    return out


def _unbound(ladder: Ladder, paths: Paths | None, time_scale: float) -> list[str]:
    """The Edge's connection to the relayed address closed by Expressway-E, never bound."""
    relayed = ladder.steps[8].values.get("XOR-RELAYED-ADDRESS")
    if relayed is None or ladder.steps[18].seen:
        return []
    out = []
    for conn in ladder.analysis.connections:
        if str(conn.server) != relayed or conn.closed_by != conn.server or not _lived(conn):
            continue
        life = ((conn.close_ns or 0) - (conn.syn_ns or 0)) / 1e9
        bind = TurnServerConfig.bind_timeout
        timer = bind * time_scale
        scaled = f" ({bind:g} s scaled by {time_scale:g})" if time_scale != 1 else ""
        out.append(f"{who(ladder, paths, conn.server.ip)} "
                   f"closed the Skype Edge's connection "
                   f"{conn.client} -> {conn.server} ({conn.close_kind}) after {life:.1f} s: no "
                   f"ConnectionBind came from the Meeting Server within the TURN server's "
                   f"{timer:g} s{scaled} (RFC 6062 §5.3)")
    return out


def _lived(conn: Connection) -> bool:
    return conn.established and conn.syn_ns is not None and conn.close_ns is not None


# --- retransmissions and losses --------------------------------------------------------------


def _retransmissions(segs: list[Segment]) -> Counter[Direction]:
    """Per direction of each TCP connection, read on the interface that saw it first (the
    sender's): SYNs sent again, and data segments that start before the highest sequence
    number already sent (a resend, whole or coalesced with new bytes; RFC 9293 §3.8.1)."""
    first_iface: dict[Direction, str] = {}
    for s in segs:
        if s.proto == PROTO_TCP:
            first_iface.setdefault(direction(s), s.iface)
    high: dict[Direction, int] = {}
    syns: set[tuple[Direction, int]] = set()
    out: Counter[Direction] = Counter()
    for s in segs:
        key = direction(s)
        if s.proto != PROTO_TCP or first_iface.get(key) != s.iface:
            continue
        if s.flags & TCP_SYN:
            if not s.flags & TCP_ACK and (key, s.seq) in syns:
                out[key] += 1
            syns.add((key, s.seq))
            high[key] = (s.seq + 1) % MOD
            continue
        if not s.payload:
            continue
        end = (s.seq + len(s.payload)) % MOD
        if key in high and (s.seq - high[key]) % MOD >= MOD // 2:  # starts before the top
            out[key] += 1
        if key not in high or (end - high[key]) % MOD < MOD // 2:
            high[key] = end
    return out


def _stops(taps: Taps, paths: Paths) -> Counter[tuple[str, str, str]]:
    """(where, bridge or link, towards whom) -> packets that stopped there (every copy)."""
    out: Counter[tuple[str, str, str]] = Counter()
    for sent in taps.sent.values():
        for s in sent.values():
            fate = taps.fate(s, paths)
            if fate.path is None:
                continue
            p = fate.path
            if fate.where not in ("bridge", "link"):
                # delivered, yet a copy may have stopped in a bridge: a segment TCP sent
                # again with the same bytes passes where the first copy was dropped
                if p.bridge:
                    extra = taps.count(s, p.bridge_in) - taps.count(s, p.bridge_out)
                    if extra > 0:
                        out[("bridge", p.bridge, p.receiver)] += extra
                continue
            n = max(taps.count(s, p.bridge_in if p.bridge else p.sender_tap), 1)
            if fate.where == "link":
                out[("link", p.bridge_out if p.bridge else p.sender_tap, p.receiver_tap)] += (
                    max(taps.count(s, p.bridge_out) if p.bridge else n, 1))
                if p.bridge:  # copies that were not even forwarded onto the dead link
                    extra = n - taps.count(s, p.bridge_out)
                    if extra > 0:
                        out[("bridge", p.bridge, p.receiver)] += extra
            else:
                out[("bridge", p.bridge or "", p.receiver)] += n
    return out


#: Packets a port must have lost on its link before the port counts as down (see _losses).
DEAD_LINK_LOSSES = 3


def _losses(taps: Taps, paths: Paths | None, no_carrier: frozenset[str]) -> list[str]:
    again = _retransmissions(taps.all)
    out = []
    if again:
        worst = ", ".join(f"{_at(paths, k[1], k[2])} -> {_at(paths, k[3], k[4])}: {n}"
                          for k, n in again.most_common(3))
        out.append(f"TCP retransmissions: {sum(again.values())}, on {len(again)} "
                   f"connection direction(s) (most: {worst})")
    if paths is None:
        return out
    stops = _stops(taps, paths)
    # A link that went down loses everything sent over it afterwards (TCP sends a segment
    # again and again); one or two packets missing at a receiver's tap are more likely that
    # tap's kernel dropping them on a loaded machine, and prove no dead port.
    dead = {(a, b) for (kind, a, b), n in stops.items()
            if kind == "link" and n >= DEAD_LINK_LOSSES}
    for (kind, a, b), n in sorted(stops.items()):
        if kind == "link":
            bridge = a.split(":", 1)[0]
            out.append(f"{n} packet(s) left {a} and never reached {b}: lost on the link "
                       f"between them, not a drop by {bridge}'s policy")
        elif f"{a}:{b}" in no_carrier:
            out.append(f"{n} packet(s) entered {a} and were not forwarded towards {b}: its "
                       f"port towards {b} had no carrier (the link to {b} was down), so this "
                       f"is a loss on the link, not a drop by {a}'s policy")
        elif any(port == f"{a}:{b}" for port, _ in dead):
            out.append(f"{n} packet(s) entered {a} and were not forwarded towards {b}: its "
                       f"port towards {b} had lost its link (packets sent by it never reached "
                       f"{b}), so this is a loss on the link, not a drop by {a}'s policy")
        else:
            out.append(f"{n} packet(s) entered {a} and never left it: dropped there")
    return out
