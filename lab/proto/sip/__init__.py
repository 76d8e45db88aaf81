"""SIP (RFC 3261), sans-I/O: message codec, headers, stream framing, transactions, dialogs,
and the proxy and user-agent cores. No sockets, no clock: time is an argument."""

from lab.proto.sip.errors import ParseError, ProtocolError

__all__ = ["ParseError", "ProtocolError"]
