"""What the ladder is made of: endpoints, TCP connections, events (one per message on the wire)
and media legs. Frozen dataclasses, built by :mod:`lab.ladder.analysis` from a capture."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, order=True)
class Endpoint:
    ip: str
    port: int

    def __str__(self) -> str:
        return f"[{self.ip}]:{self.port}" if ":" in self.ip else f"{self.ip}:{self.port}"


class Kind(enum.StrEnum):
    TCP = "tcp"  # a TCP connection set-up (SYN), whatever became of it
    SIP = "sip"
    STUN = "stun"
    TLS = "tls"  # TLS application data that could not be decrypted


@dataclass(frozen=True, slots=True)
class TcpInfo:
    """The fate of one TCP connection attempt (RFC 9293 §3.5)."""

    outcome: str  # "established", "refused" (RST), "no answer"
    syns: int  # SYNs sent (more than one: retransmitted)
    seen_on: tuple[str, ...]  # interfaces on which the SYN was captured
    answered_on: tuple[str, ...]  # interfaces on which the answer (SYN-ACK or RST) was captured
    tls: bool = False


@dataclass(frozen=True, slots=True)
class SipInfo:
    """A SIP message, as far as the ladder needs it (RFC 3261 §7)."""

    start_line: str
    method: str | None  # requests
    status: int | None  # responses
    reason: str
    call_id: str
    cseq: int
    cseq_method: str
    from_tag: str
    to_tag: str
    content_type: str
    body: str
    diagnostics: tuple[str, ...] = ()  # Warning, Reason, ms-diagnostics(-public) values
    text: str = ""  # the whole message as it travelled (decrypted), for a reader to open

    @property
    def label(self) -> str:
        if self.method is not None:
            return self.method
        return f"{self.status} {self.reason}".strip()

    @property
    def is_request(self) -> bool:
        return self.method is not None

    @property
    def media(self) -> tuple[str, ...]:
        """The ``m=`` lines' media names (``applicationsharing``, ``audio``...)."""
        return tuple(line[2:].split(" ", 1)[0] for line in self.body.splitlines()
                     if line.startswith("m="))


@dataclass(frozen=True, slots=True)
class StunInfo:
    """A STUN/TURN message (RFC 8489, RFC 8656, RFC 6062), with the attributes the ladder shows."""

    method: str  # "Allocate", "Binding", "ConnectionBind"...
    cls: str  # "request", "indication", "success", "error"
    transaction_id: str  # hex
    error: tuple[int, str] | None = None
    xor_mapped: Endpoint | None = None
    xor_relayed: Endpoint | None = None
    xor_peer: tuple[Endpoint, ...] = ()
    connection_id: int | None = None
    requested_transport: int | None = None
    lifetime: int | None = None
    username: str | None = None
    realm: str | None = None
    nonce: bool = False
    integrity: bool = False
    fingerprint: bool = False
    use_candidate: bool = False
    attributes: tuple[tuple[str, str], ...] = ()  # every attribute in order: (NAME, value)

    @property
    def label(self) -> str:
        names = {"request": "Request", "indication": "Indication", "success": "Success Response",
                 "error": "Error Response"}
        text = f"{self.method} {names.get(self.cls, self.cls)}"
        if self.error is not None:
            text += f" {self.error[0]} {self.error[1]}".rstrip()
        return text


@dataclass(frozen=True, slots=True)
class Event:
    """One message (or connection set-up) on the wire, seen once after de-duplication."""

    ts_ns: int
    frame: int  # frame number in the capture, as Wireshark numbers it (last segment of it)
    iface: str
    src: Endpoint
    dst: Endpoint
    transport: str  # "TCP", "TLS", "UDP"
    kind: Kind
    conn: int | None = None  # index into Analysis.connections
    framing: str = ""  # "RFC 4571" when the message travelled with a 2-byte length
    head: bytes = b""  # its first bytes on the wire, framing included ("00 6c 00 01")
    tcp: TcpInfo | None = None
    sip: SipInfo | None = None
    stun: StunInfo | None = None

    @property
    def label(self) -> str:
        if self.sip is not None:
            return self.sip.label
        if self.stun is not None:
            return self.stun.label
        if self.tcp is not None:
            return "TLS connect" if self.tcp.tls else "TCP connect"
        return "TLS data"


@dataclass
class Connection:
    """One TCP connection, as seen on the interface chosen for it (the earliest to see it)."""

    index: int
    client: Endpoint
    server: Endpoint
    iface: str
    seen_on: list[str] = field(default_factory=list)
    syn_ns: int | None = None
    syn_frame: int = 0
    syns: int = 0
    answer_ns: int | None = None
    answered_on: list[str] = field(default_factory=list)
    established: bool = False
    refused: bool = False
    close_ns: int | None = None
    close_kind: str = ""  # "FIN" or "RST"
    closed_by: Endpoint | None = None
    octets: dict[str, int] = field(default_factory=lambda: {"up": 0, "down": 0})
    protocol: str = ""  # what its bytes turned out to be: "SIP", "TLS", "STUN", "RFC 4571"...
    bound: bool = False  # an RFC 6062 data connection after its ConnectionBind success


@dataclass
class MediaLeg:
    """RTP in one direction of one connection (or UDP 5-tuple), with RFC 3550 statistics."""

    src: Endpoint
    dst: Endpoint
    transport: str
    framing: str
    conn: int | None
    iface: str
    packets: int = 0
    octets: int = 0
    first_ns: int = 0
    last_ns: int = 0
    first_frame: int = 0
    payload_types: list[int] = field(default_factory=list)
    ssrc: int | None = None
    lost: int = 0
    gaps: int = 0
    jitter_ms: float = 0.0
    clock_rate: int = 90000  # of the payload type, for the jitter (lab.ladder.media)
    rtcp: int = 0
    #: every RTP packet as it was captured: (time ns, bytes, RFC 3550 jitter so far in ms),
    #: for drawing the media over time
    timeline: list[tuple[int, int, float]] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return max(0.0, (self.last_ns - self.first_ns) / 1e9)
