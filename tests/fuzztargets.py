"""Fuzz targets: every decoder of peer input, driven as its adapter drives it. Each target
takes bytes; the codec's declared error is the only exception it may let out (anything else is
a finding), and it checks what must hold of a successful parse (round trips). Seeds come from
the test data (RFC vectors, real captures, coturn's messages) and from a real client/server
exchange. The suite runs each for a short fixed budget (tests/unit/test_fuzz.py); the long run
is ``bench/fuzz.py`` (atheris, coverage-guided).

Regression inputs, one file per finding, live in ``tests/data/fuzz/<target>/``.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lab.base.errors import InputError
from lab.capture.pcapfile import parse_capture
from lab.ladder.analysis import analyse_capture
from lab.proto.ice import IceAgent
from lab.proto.rtp.errors import ParseError as RtpParseError
from lab.proto.rtp.packet import parse_rtp
from lab.proto.rtp.rtcp import parse_rtcp
from lab.proto.sdp import Candidate, SessionDescription
from lab.proto.sdp import ParseError as SdpParseError
from lab.proto.sip.errors import ParseError as SipParseError
from lab.proto.sip.framing import FramingError, SipStreamFramer
from lab.proto.sip.message import parse as sip_parse
from lab.proto.stun import (
    ParseError as StunParseError,
)
from lab.proto.stun import (
    Rfc4571Framer,
    StunStreamFramer,
)
from lab.proto.stun import (
    parse as stun_parse,
)
from lab.proto.turn.client import TurnClientCore
from lab.proto.turn.client_events import SendToServer
from lab.proto.turn.config import TurnServerConfig
from lab.proto.turn.server import TurnServerCore
from lab.proto.turn.state import Action, OpenRelay, SendToClient

DATA = Path(__file__).resolve().parent / "data"
REGRESSIONS = DATA / "fuzz"
SIP_ACCESSORS = ("via", "from_", "to", "call_id", "cseq", "contact", "route", "record_route",
                 "max_forwards", "content_type", "content_length")


@dataclass(frozen=True)
class Target:
    name: str
    run: Callable[[bytes], None]
    seeds: Callable[[], list[bytes]]

    def regressions(self) -> list[Path]:
        folder = REGRESSIONS / self.name
        return sorted(folder.glob("*.bin")) if folder.is_dir() else []


def _files(pattern: str) -> list[bytes]:
    return [p.read_bytes() for p in sorted(DATA.glob(pattern))]


# --- STUN and its framers -------------------------------------------------------------------

def stun_message(data: bytes) -> None:
    try:
        msg = stun_parse(data)
    except StunParseError:
        return
    msg.describe()
    again = stun_parse(msg.encode())
    assert again.attributes == msg.attributes, (msg, again)


def stun_framers(data: bytes) -> None:
    for framer in (StunStreamFramer(channel_data=True), Rfc4571Framer()):
        frames = []
        try:
            for i in range(0, len(data), 7):  # as a stream arrives: in pieces
                framer.feed(data[i:i + 7])
                frames += list(framer.frames())
        except StunParseError:
            continue
        joined = b"".join(frames)
        if isinstance(framer, StunStreamFramer):
            assert data.startswith(joined)


# --- the TURN cores, driven as their adapters drive them ------------------------------------

SECRET = b"fuzz-nonce-secret"
CLIENT, SERVER = ("10.48.54.230", 33347), ("10.48.54.229", 3478)


def _turn_config() -> TurnServerConfig:
    return TurnServerConfig(listen=(SERVER,), relay_ip="192.168.1.229",
                            relay_ports=tuple(range(24000, 24004)), realm="TANDBERG",
                            users={"cms": "s3cret"}, allow_udp=True)


def _settle(core: TurnServerCore) -> list[bytes]:
    """What the adapter does with the core's queued actions: relays bind, sends are
    collected."""
    out: list[bytes] = []
    queue: list[Action] = core.actions()
    while queue:
        a = queue.pop(0)
        if isinstance(a, OpenRelay):
            core.relay_result(a.alloc, True, 1.0)
            queue += core.actions()
        elif isinstance(a, SendToClient):
            out.append(a.data)
    return out


def turn_server(data: bytes) -> None:
    core = TurnServerCore(_turn_config(), nonce_secret=SECRET)
    core.connection_made(1, CLIENT, SERVER, 0.0)
    framer = StunStreamFramer(channel_data=lambda: core.channels_possible(1))
    framer.feed(data)
    try:
        for frame in framer.frames():
            core.message_received(1, frame, 1.0)
            for raw in _settle(core):
                stun_parse(raw)  # what the server sends parses
    except StunParseError:
        pass  # the adapter closes the connection
    for alloc in list(core.allocations.values()):
        core.peer_accepted(alloc.relayed, ("192.168.1.252", 5000), 2.0)
        _settle(core)
        core.datagram_received(alloc.key, ("192.168.1.252", 5000), data[:64], 2.0)
        _settle(core)
    core.handle_timer(10_000.0)
    _settle(core)
    core.connection_lost(1, 10_001.0)
    _settle(core)


@functools.cache
def _turn_seeds() -> list[bytes]:
    """A real exchange: our client core against the server core (fixed nonce secret), every
    request of it as one stream, and each request alone."""
    core = TurnServerCore(_turn_config(), nonce_secret=SECRET)
    core.connection_made(1, CLIENT, SERVER, 0.0)
    client = TurnClientCore("cms", "s3cret")
    stream: list[bytes] = []

    def exchange(handle: int) -> None:
        """The request the command that returned ``handle`` queued, and its retries."""
        pending = [a for a in client.actions() if isinstance(a, SendToServer)]
        while pending:
            raw = pending.pop().data
            stream.append(raw)
            core.message_received(1, raw, 1.0)
            for answer in _settle(core):
                client.receive(answer, 1.0)
                pending += [e for e in client.actions() if isinstance(e, SendToServer)]

    exchange(client.allocate(1.0))
    exchange(client.create_permission(1.0, ["192.168.1.252"]))
    exchange(client.connect(1.0, ("192.168.1.252", 7000)))
    exchange(client.refresh(1.0, 600))
    return [b"".join(stream), *stream, *_files("stun/*.bin")]


def turn_client(data: bytes) -> None:
    client = TurnClientCore("cms", "s3cret")
    client.allocate(0.0)
    client.actions()
    framer = StunStreamFramer()
    framer.feed(data)
    try:
        for frame in framer.frames():
            client.receive(frame, 1.0)
            client.actions()
    except StunParseError:
        pass
    client.handle_timer(100.0)
    client.actions()


# --- SIP, SDP, RTP --------------------------------------------------------------------------

def sip_message(data: bytes) -> None:
    try:
        msg = sip_parse(data)
        for name in SIP_ACCESSORS:
            getattr(msg, name)
    except SipParseError:
        return


def sip_framing(data: bytes) -> None:
    framer = SipStreamFramer()
    try:
        for i in range(0, len(data), 13):
            framer.feed(data[i:i + 13])
    except FramingError:
        return


def sdp(data: bytes) -> None:
    try:
        sd = SessionDescription.parse(data)
    except SdpParseError:
        return
    assert SessionDescription.parse(str(sd)) == sd
    for m in sd.media:
        with contextlib.suppress(SdpParseError):
            m.candidates  # noqa: B018


def candidate(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    try:
        c = Candidate.parse(text)
    except SdpParseError:
        return
    assert Candidate.parse(str(c)) == c, (text, str(c))


def rtp(data: bytes) -> None:
    for parser in (parse_rtp, parse_rtcp):
        with contextlib.suppress(RtpParseError):
            parser(data)


@functools.cache
def _sdp_seeds() -> list[bytes]:
    lines = [ln for ln in (DATA / "ice").glob("*.txt")]
    cands = "".join(f"a=candidate:{c}\r\n" for p in lines for c in p.read_text().splitlines()
                    if c.strip())
    body = ("v=0\r\no=- 1 1 IN IP4 10.48.54.230\r\ns=-\r\nc=IN IP4 10.48.54.230\r\nt=0 0\r\n"
            "m=audio 38547 TCP/RTP/AVP 0 96\r\na=rtpmap:0 PCMU/8000\r\na=ice-ufrag:CmsU\r\n"
            f"{cands}m=video 9 RTP/AVP 96\r\na=sendrecv\r\n")
    return [body.encode()]


def _candidate_seeds() -> list[bytes]:
    return [ln.encode() for p in sorted((DATA / "ice").glob("*.txt"))
            for ln in p.read_text().splitlines() if ln.strip()]


def _rtp_seeds() -> list[bytes]:
    rtp_pkt = bytes([0x80, 0x00, 0, 1, 0, 0, 0, 160, 0, 0, 0, 7]) + bytes(160)
    sr = bytes([0x80, 200, 0, 6]) + bytes(24)
    return [rtp_pkt, sr]


# --- ICE -----------------------------------------------------------------------------------

@functools.cache
def _seed_candidates() -> list[Candidate]:
    return [Candidate.parse(c.decode()) for c in _candidate_seeds()]


def ice(data: bytes) -> None:
    cands = _seed_candidates()
    agent = IceAgent(controlling=False, local_ufrag="CmsU", local_pwd="cms-password-0123456789ab",
                     local_candidates=cands[2:])
    agent.set_remote("SkyP", "skype-password-0123456789", cands[:2], 0.0)
    conn = agent.incoming(agent.local_candidates[0], ("10.48.54.231", 50000), 0.0)
    framer = Rfc4571Framer()
    framer.feed(data)
    try:
        for frame in framer.frames():
            agent.frame_received(conn, frame, 1.0)
            agent.actions()
    except StunParseError:
        pass
    agent.handle_timer(100.0)


def _ice_seeds() -> list[bytes]:
    return [Rfc4571Framer.frame(b) for b in _files("ice/*.bin")]


# --- captures and the ladder ----------------------------------------------------------------

def pcap(data: bytes) -> None:
    try:
        parse_capture(data)
    except InputError:
        return


def ladder(data: bytes) -> None:
    """A capture through the whole ladder analysis (TLS decryption, which hands the bytes to
    tshark, is not ours to fuzz: the key log is dropped)."""
    try:
        cap = parse_capture(data)
    except InputError:
        return
    cap.tls_keylog = b""
    analyse_capture(cap)


@functools.cache
def _capture_seeds() -> list[bytes]:
    """The real captures' first 24 KiB (a capture cut short is a case of its own)."""
    return [d[:24 * 1024] for d in _files("ladder/*.pcapng")]


def _sip_seeds() -> list[bytes]:
    return _files("sip/rfc4475/*.dat")


TARGETS: dict[str, Target] = {t.name: t for t in [
    Target("stun_message", stun_message, _turn_seeds),
    Target("stun_framers", stun_framers, _turn_seeds),
    Target("turn_server", turn_server, _turn_seeds),
    Target("turn_client", turn_client, _turn_seeds),
    Target("sip_message", sip_message, _sip_seeds),
    Target("sip_framing", sip_framing, _sip_seeds),
    Target("sdp", sdp, _sdp_seeds),
    Target("candidate", candidate, _candidate_seeds),
    Target("rtp", rtp, _rtp_seeds),
    Target("ice", ice, _ice_seeds),
    Target("pcap", pcap, _capture_seeds),
    Target("ladder", ladder, _capture_seeds),
]}
