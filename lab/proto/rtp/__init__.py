"""RTP for the shared screen, sans-I/O: packets, RTCP reports, statistics, synthetic traffic.

RFC 3550 (RTP/RTCP), RFC 5761 §4 (RTP/RTCP on one transport), RFC 4571 framing is applied by
the caller on the ICE stream (the STUN package's ``Rfc4571Framer``). Payload type 127
(``x-data/90000``) as in flow.md §4.
"""

from lab.proto.rtp.errors import ParseError
from lab.proto.rtp.packet import (
    SHARE_CLOCK_RATE,
    SHARE_PAYLOAD_TYPE,
    RtpExtension,
    RtpPacket,
    parse_rtp,
)
from lab.proto.rtp.rtcp import (
    ReceiverReport,
    ReportBlock,
    RtcpOther,
    RtcpPacket,
    SenderReport,
    is_rtcp,
    ntp_from_unix,
    ntp_middle,
    parse_rtcp,
)
from lab.proto.rtp.session import MediaStats, RtpSession
from lab.proto.rtp.stats import ReceptionStats, rtt_from_report
from lab.proto.rtp.synthetic import Fragment, TrafficSource, sharer_source, viewer_source

__all__ = [
    "SHARE_CLOCK_RATE",
    "SHARE_PAYLOAD_TYPE",
    "Fragment",
    "MediaStats",
    "ParseError",
    "ReceiverReport",
    "ReceptionStats",
    "ReportBlock",
    "RtcpOther",
    "RtcpPacket",
    "RtpExtension",
    "RtpPacket",
    "RtpSession",
    "SenderReport",
    "TrafficSource",
    "is_rtcp",
    "ntp_from_unix",
    "ntp_middle",
    "parse_rtcp",
    "parse_rtp",
    "rtt_from_report",
    "sharer_source",
    "viewer_source",
]
