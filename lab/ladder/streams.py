"""Cutting one direction of a TCP connection into messages: STUN straight on TCP (a TURN control
connection), RFC 4571 frames (ICE checks and RTP inside an RFC 6062 data connection), SIP, TLS.

The kind of bytes is decided at every message boundary, because a TURN data connection changes
nature mid-stream: plain STUN up to ConnectionBind and its success response, then the peer's
relayed bytes, which in this flow are RFC 4571 frames (RFC 6062 §4.4, §5.3; MS-ICE2 §2.2.1).
Framing itself is done by the protocol packages' framers (``lab.proto.stun``, ``lab.proto.sip``).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from lab.proto.rtp import is_rtcp
from lab.proto.sip.framing import Frame, FramingError, SipStreamFramer
from lab.proto.stun import Message, MessageClass, Method, ParseError, Rfc4571Framer, parse
from lab.proto.stun import StunStreamFramer as _StunFramer
from lab.proto.stun.kinds import MAGIC_COOKIE

COOKIE = MAGIC_COOKIE.to_bytes(4, "big")
_SIP_START = re.compile(rb"^(?:SIP/2\.0 \d{3}|[A-Za-z!%*_+`'~.-]+ \S+ SIP/2\.0\r?\n)")


@dataclass(frozen=True, slots=True)
class Unit:
    """One message cut out of a stream (or a UDP datagram)."""

    kind: str  # "stun", "sip", "rtp", "rtcp", "channeldata", "other"
    data: bytes  # the message without framing
    framing: str  # "" or "RFC 4571"
    head: bytes  # first 4 bytes on the wire, framing included
    stun: Message | None = None
    note: str = ""  # "msturn": the message type read from its header


def _is_tls(buf: bytes | bytearray) -> bool:
    """A TLS record header: content type 20-23, version 3.x (RFC 8446 §5.1)."""
    return len(buf) >= 3 and buf[0] in (0x14, 0x15, 0x16, 0x17) and buf[1] == 3 and buf[2] <= 4


def _is_framed(buf: bytes | bytearray) -> bool:
    """An RFC 4571 length followed by STUN (magic cookie) or RTP/RTCP (version 2)."""
    stun = len(buf) >= 10 and buf[2] & 0xC0 == 0 and buf[6:10] == COOKIE
    rtp = len(buf) >= 3 and buf[2] >> 6 == 2 and int.from_bytes(buf[:2], "big") >= 12
    return stun or rtp


def classify(buf: bytes | bytearray) -> str | None:
    """What a stream holds from this message boundary on, or None if more bytes are needed."""
    found: str | None = None
    if _is_tls(buf):
        found = "tls"
    elif len(buf) >= 8 and buf[0] & 0xC0 == 0 and buf[4:8] == COOKIE:
        found = "stun"
    elif _is_framed(buf):
        found = "rfc4571"
    elif buf[:2] == b"\r\n" or _SIP_START.match(bytes(buf[:256])):
        found = "sip"
    elif len(buf) >= 10 and (buf.find(b"\n") >= 0 or len(buf) > 256 or buf[0] < 0x20):
        found = "opaque"
    return found


def _ends_binding(msg: Message) -> bool:
    """ConnectionBind request or its response: the raw relayed bytes follow (RFC 6062 §4.4)."""
    return msg.method == Method.CONNECTION_BIND and msg.cls != MessageClass.INDICATION


class StreamDecoder:
    """Cuts one direction of a TCP connection into :class:`Unit` messages."""

    def __init__(self) -> None:
        self.mode = "detect"
        self.protocols: list[str] = []  # every kind of bytes met, in order
        self.opaque_octets = 0
        self._pending = bytearray()
        self._stun = _StunFramer()
        self._framed = Rfc4571Framer()
        self._sip = SipStreamFramer(max_header=65536, max_body=1 << 20)
        self._refused: str | None = None  # the mode whose framer refused the pending bytes

    def feed(self, data: bytes, gap: bool = False) -> list[Unit]:
        """Add the next bytes of the stream; ``gap``: bytes are missing before these."""
        if gap:
            self._restart()
        out: list[Unit] = []
        if self.mode == "detect":
            self._pending += data
        else:
            self._feed_mode(data, out)
        while self.mode == "detect" and self._pending:
            mode = classify(self._pending)
            if mode is None:
                break
            if mode == self._refused:  # its framer refused these very bytes: they are not that
                mode = "opaque"
            self._switch(mode)
            rest, self._pending = bytes(self._pending), bytearray()
            self._feed_mode(rest, out)
        return out

    def finish(self) -> None:
        """The stream ended: undecided bytes count as opaque."""
        self.opaque_octets += len(self._pending)
        self._pending.clear()

    def _restart(self) -> None:
        self.finish()
        self.mode, self._refused = "detect", None
        self._stun, self._framed = _StunFramer(), Rfc4571Framer()
        self._sip = SipStreamFramer(max_header=65536, max_body=1 << 20)

    def _switch(self, mode: str) -> None:
        self.mode = mode
        if not self.protocols or self.protocols[-1] != mode:
            self.protocols.append(mode)

    def _back_to_detect(self, rest: bytes, refused: str | None = None) -> None:
        """Decide again what ``rest`` is; ``refused``: the mode whose framer could not cut it
        (the classifier may think it is that kind again: it becomes opaque instead)."""
        self.mode, self._refused = "detect", refused
        self._pending = bytearray(rest)

    def _feed_mode(self, data: bytes, out: list[Unit]) -> None:
        if self.mode == "stun":
            self._feed_stun(data, out)
        elif self.mode == "rfc4571":
            self._feed_framed(data, out)
        elif self.mode == "sip":
            self._feed_sip(data, out)
        elif self.mode == "opaque":
            self.opaque_octets += len(data)
        # "tls": the ciphertext is left to lab.ladder.decrypt, which asks tshark for the plaintext

    def _feed_stun(self, data: bytes, out: list[Unit]) -> None:
        self._stun.feed(data)
        while True:
            try:
                frame = self._stun.next_frame()
            except ParseError:
                self._back_to_detect(self._stun.take_buffered(), refused="stun")
                return
            if frame is None:
                return
            if frame[0] & 0xC0 == 0x40:
                out.append(Unit("channeldata", frame[4:], "", frame[:4]))
                continue
            unit = _stun_unit(frame, "", frame[:4])
            out.append(unit)
            if unit.stun is not None and _ends_binding(unit.stun):
                self._back_to_detect(self._stun.take_buffered())
                return

    def _feed_framed(self, data: bytes, out: list[Unit]) -> None:
        self._framed.feed(data)
        while True:
            try:
                payload = self._framed.next_frame()
            except ParseError:
                self._back_to_detect(self._framed.take_buffered(), refused="rfc4571")
                return
            if payload is None:
                return
            head = (len(payload).to_bytes(2, "big") + payload)[:4]
            out.append(_framed_unit(payload, head))

    def _feed_sip(self, data: bytes, out: list[Unit]) -> None:
        try:
            events = self._sip.feed(data)
        except FramingError:
            self._switch("opaque")
            return
        for ev in events:
            if isinstance(ev, Frame):
                out.append(Unit("sip", ev.data, "", ev.data[:4]))


def _stun_unit(data: bytes, framing: str, head: bytes) -> Unit:
    try:
        return Unit("stun", data, framing, head, parse(data))
    except ParseError:
        return Unit("other", data, framing, head)


def _framed_unit(payload: bytes, head: bytes) -> Unit:
    """Classify one RFC 4571 frame's payload: STUN, RTCP or RTP (RFC 7983 §7 by first byte)."""
    if len(payload) >= 20 and payload[0] < 4 and payload[4:8] == COOKIE:
        return _stun_unit(payload, "RFC 4571", head)
    if is_rtcp(payload):
        return Unit("rtcp", payload, "RFC 4571", head)
    if len(payload) >= 12 and payload[0] >> 6 == 2:
        return Unit("rtp", payload, "RFC 4571", head)
    return Unit("other", payload, "RFC 4571", head)


#: MS-TURN message types ([MS-TURN] §2.2.1, the RFC 3489 layout: method and class bits)
MSTURN_TYPES: dict[int, str] = {
    0x0001: "Binding Request", 0x0101: "Binding Response", 0x0111: "Binding Error Response",
    0x0003: "Allocate Request", 0x0103: "Allocate Response",
    0x0113: "Allocate Error Response", 0x0004: "Send Request", 0x0115: "Data Indication",
    0x0006: "Set Active Destination Request", 0x0106: "Set Active Destination Response",
    0x0116: "Set Active Destination Error Response",
}
_MSTURN_COOKIE_ATTR = bytes.fromhex("000f000472c64bc6")  # MAGIC-COOKIE attribute, [MS-TURN]


def stun_like(payload: bytes) -> Unit | None:
    """A STUN header whose message ``lab.proto.stun`` cannot decode: MS-TURN (a 128-bit
    transaction ID with the MAGIC-COOKIE attribute, attributes left unpadded) or a damaged
    message; the unit says its type as read from the header."""
    if len(payload) < 20 or payload[0] & 0xC0:
        return None
    mtype, length = struct.unpack_from("!HH", payload)
    if length != len(payload) - 20:
        return None
    msturn = payload[20:28] == _MSTURN_COOKIE_ATTR
    if not msturn and payload[4:8] != COOKIE:
        return None
    name = MSTURN_TYPES.get(mtype, f"type 0x{mtype:04x}")
    return Unit("msturn", payload, "", payload[:4], note=name)


def _datagram_stun(payload: bytes) -> Unit | None:
    if len(payload) >= 20 and payload[0] < 4 and payload[4:8] == COOKIE:
        unit = _stun_unit(payload, "", payload[:4])
        return (stun_like(payload) or unit) if unit.kind == "other" else unit
    return stun_like(payload)


def datagram_unit(payload: bytes) -> Unit | None:
    """Classify one UDP payload (RFC 7983 §7): STUN, ChannelData, RTP/RTCP, SIP, STUN that does
    not decode (MS-TURN), or None."""
    stun = _datagram_stun(payload)
    if stun is not None:
        return stun
    if _SIP_START.match(payload[:256]):  # before ChannelData: "OPTIONS" starts with 0x4F
        return Unit("sip", payload, "", payload[:4])
    if (len(payload) >= 4 and 64 <= payload[0] <= 79
            and int.from_bytes(payload[2:4], "big") <= len(payload) - 4):
        return Unit("channeldata", payload[4:], "", payload[:4])
    if is_rtcp(payload):
        return Unit("rtcp", payload, "", payload[:4])
    if 128 <= payload[0] <= 191 and len(payload) >= 12:
        return Unit("rtp", payload, "", payload[:4])
    return None
