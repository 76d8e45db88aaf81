"""The run's diagnosis, in a UC engineer's words, computed from the capture and its ladder.

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
  *where* the SYN died: the firewall whose port towards the sender saw it and whose port
  towards the receiver did not;
* the Skype Edge's connection to the relayed address closed by Expressway-E with no
  ConnectionBind (RFC 6062 §5.3);
* TCP retransmissions (RFC 9293 §3.8.1) and packets that entered a firewall and never left it;
* the time scale of the run, when its long timers were shortened.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address

from lab.base.errors import InputError
from lab.capture import Capture
from lab.ladder import Ladder
from lab.ladder.events import Connection, Kind
from lab.ladder.packets import PROTO_TCP, TCP_ACK, TCP_SYN, Segment, segments
from lab.proto.ice import IceConfig
from lab.proto.turn.config import CLIENT_TIMEOUT, TurnServerConfig
from lab.rulesets.flows import RequiredFlow, required_flows
from lab.topology import Node, Topology

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


@dataclass(frozen=True)
class _Where:
    """The lab's nodes by address, and the bridged segments between them."""

    topo: Topology

    def node(self, ip: str) -> Node | None:
        addr = IPv4Address(ip)
        return next((n for n in self.topo.nodes if addr in n.addresses), None)

    def name(self, ip: str) -> str:
        node = self.node(ip)
        return node.name if node is not None else ip

    def iface_of(self, node: Node, ip: IPv4Address) -> str | None:
        for i in node.interfaces:
            if i.address is not None and ip in i.address.network:
                return i.name
        return None

    def path(self, src: str, dst: str) -> tuple[str, str, str | None, str, str] | None:
        """(src node, its interface, the bridge between or None, dst node, its interface)
        when both addresses are on one segment."""
        a, b = self.node(src), self.node(dst)
        if a is None or b is None:
            return None
        ia, ib = self.iface_of(a, IPv4Address(dst)), self.iface_of(b, IPv4Address(src))
        if ia is None or ib is None:
            return None
        seg = next((s for s in self.topo.segments
                    if any(e.node == a.name and e.interface == ia for e in s.endpoints)), None)
        return a.name, ia, seg.bridge if seg is not None else None, b.name, ib


def diagnose(ladder: Ladder, capture: Capture, topo: Topology, *,
             time_scale: float = 1.0) -> list[str]:
    """The diagnosis lines of one run (see the module docstring), most telling first."""
    where = _Where(topo)
    lines = _rejections(ladder, where)
    lines += _failed_connects(ladder, where)
    lines += _turn_errors(ladder, where)
    lines += _unbound(ladder, where, time_scale)
    lines += _host_only(ladder)
    lines += _losses(list(segments(capture)), where)
    if time_scale != 1:
        changed = ", ".join(f"{what} {now:g} s instead of {seconds:g} s"
                            for what, seconds, now in timers(time_scale))
        lines.append(f"time scale {time_scale:g}: the long protocol timers ran "
                     f"{1 / time_scale:g} times faster ({changed})")
    return list(dict.fromkeys(lines))


def _share_calls(ladder: Ladder) -> set[str]:
    return {e.sip.call_id for e in ladder.analysis.events
            if e.sip is not None and e.sip.method == "INVITE" and not e.sip.to_tag
            and "applicationsharing" in e.sip.media}


def _rejections(ladder: Ladder, where: _Where) -> list[str]:
    """The first error response to each share INVITE: the node that rejected it."""
    calls = _share_calls(ladder)
    out, seen = [], set()
    for ev in ladder.analysis.events:
        s = ev.sip
        if s is None or s.status is None or s.status < 300 or s.call_id not in calls or \
                s.cseq_method != "INVITE" or (s.call_id, s.cseq) in seen:
            continue
        seen.add((s.call_id, s.cseq))
        who = ladder.names.name_of(ev.src.ip)
        text = (f"{who} ({where.name(ev.src.ip)}) rejected the share INVITE with {s.status} "
                f"{s.reason} (frame {ev.frame})")
        if s.diagnostics:
            text += ": " + "; ".join(s.diagnostics)
        out.append(text)
    return out


def _turn_errors(ladder: Ladder, where: _Where) -> list[str]:
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
        out.append(f"{ladder.names.name_of(ev.src.ip)} rejected {where.name(ev.dst.ip)}'s "
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


def _fate(seen_on: Iterable[str], where: _Where, src: str, dst: str) -> str:
    """Where a SYN that got no answer died, from the interfaces that saw it."""
    seen = set(seen_on)
    path = where.path(src, dst)
    if path is None:
        return f"seen only on {', '.join(sorted(seen))}"
    a, ia, bridge, b, ib = path
    if f"{b}:{ib}" in seen:
        return f"it reached {b}, which never answered"
    if bridge is None:
        return f"lost between {a}:{ia} and {b}:{ib}"
    if f"{bridge}:{b}" in seen:
        return f"it left {bridge} towards {b} but never reached {b}:{ib}"
    if f"{bridge}:{a}" in seen:
        return (f"dropped at {bridge} (its port towards {a} saw the SYN, its port towards {b} "
                "never did)")
    return f"it never reached {bridge} (seen only on {', '.join(sorted(seen))})"


def _failed_connects(ladder: Ladder, where: _Where) -> list[str]:
    out = []
    try:
        flows = required_flows(where.topo)
    except InputError:  # a topology without the roles of ports.md: no flow names
        flows = ()
    for ev in ladder.analysis.events:
        tcp = ev.tcp
        if ev.kind is not Kind.TCP or tcp is None or tcp.outcome == "established":
            continue
        if ladder.names.role_of(ev.src.ip) is None or ladder.names.role_of(ev.dst.ip) is None:
            continue  # not between two of the call's nodes (the client's doomed host checks)
        f = _flow(flows, ev.src.ip, ev.src.port, ev.dst.ip, ev.dst.port)
        what = f" (ports.md {f.id}: {f.why})" if f is not None else ""
        head = (f"TCP connect {where.name(ev.src.ip)} {ev.src} -> {where.name(ev.dst.ip)} "
                f"{ev.dst}{what}")
        if tcp.outcome == "refused":
            out.append(f"{head} refused (RST, frame {ev.frame})")
        else:
            out.append(f"{head} never answered ({tcp.syns} SYN, frame {ev.frame}): "
                       f"{_fate(tcp.seen_on, where, ev.src.ip, ev.dst.ip)}")
    return out


def _unbound(ladder: Ladder, where: _Where, time_scale: float) -> list[str]:
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
        out.append(f"{ladder.names.name_of(conn.server.ip)} ({where.name(conn.server.ip)}) "
                   f"closed the Skype Edge's connection "
                   f"{conn.client} -> {conn.server} ({conn.close_kind}) after {life:.1f} s: no "
                   f"ConnectionBind came from the Meeting Server within the TURN server's "
                   f"{timer:g} s{scaled} (RFC 6062 §5.3)")
    return out


def _lived(conn: Connection) -> bool:
    return conn.established and conn.syn_ns is not None and conn.close_ns is not None


# --- retransmissions and losses --------------------------------------------------------------

_Key = tuple[str, int, str, int]
MOD = 1 << 32


def _retransmissions(segs: list[Segment]) -> Counter[_Key]:
    """Per direction of each TCP connection, read on the interface that saw it first (the
    sender's): SYNs sent again, and data segments that start before the highest sequence
    number already sent (a resend, whole or coalesced with new bytes; RFC 9293 §3.8.1)."""
    first_iface: dict[_Key, str] = {}
    for s in segs:
        if s.proto == PROTO_TCP:
            first_iface.setdefault((s.src, s.sport, s.dst, s.dport), s.iface)
    high: dict[_Key, int] = {}
    syns: set[tuple[_Key, int]] = set()
    out: Counter[_Key] = Counter()
    for s in segs:
        key = (s.src, s.sport, s.dst, s.dport)
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


def _dropped_in_bridges(segs: list[Segment], where: _Where) -> Counter[str]:
    """Packets that entered a bridge's port towards their sender more often than they left
    its port towards their receiver: dropped in that bridge's namespace."""
    seen: Counter[tuple[str, int, str, int, int, int, int, int, str]] = Counter()
    for s in segs:
        seen[(s.src, s.sport, s.dst, s.dport, s.seq, s.ack, s.flags, len(s.payload),
              s.iface)] += 1
    paths: dict[tuple[str, str], tuple[str, str, str | None, str, str] | None] = {}
    out: Counter[str] = Counter()
    for key, n in seen.items():
        src, dst = key[0], key[2]
        if (src, dst) not in paths:
            paths[(src, dst)] = where.path(src, dst)
        path = paths[(src, dst)]
        if path is None or path[2] is None:
            continue
        a, _ia, bridge, b, _ib = path
        if bridge is None or key[8] != f"{bridge}:{a}":
            continue
        left = seen[(*key[:8], f"{bridge}:{b}")]
        if n > left:
            out[bridge] += n - left
    return out


def _losses(segs: list[Segment], where: _Where) -> list[str]:
    again = _retransmissions(segs)
    out = []
    if again:
        worst = ", ".join(f"{where.name(k[0])} {k[0]}:{k[1]} -> {where.name(k[2])} "
                          f"{k[2]}:{k[3]}: {n}" for k, n in again.most_common(3))
        out.append(f"TCP retransmissions: {sum(again.values())}, on {len(again)} "
                   f"connection direction(s) (most: {worst})")
    for bridge, n in sorted(_dropped_in_bridges(segs, where).items()):
        out.append(f"{n} packet(s) entered {bridge} and never left it: dropped there")
    return out

