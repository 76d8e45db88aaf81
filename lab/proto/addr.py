"""The one address type of the protocol cores: a transport address ``(ip, port)`` as the
socket API spells it, IPv4 dotted quad or IPv6 text."""

from __future__ import annotations

Addr = tuple[str, int]
