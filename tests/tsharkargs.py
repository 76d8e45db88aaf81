"""tshark arguments for the referee tests that read SIP over TLS in lab captures."""

from __future__ import annotations

import shutil

from lab.ladder.decrypt import tls_port_table
from tests import sipseed as seed


def sip_over_tls() -> list[str]:
    """Decode every TLS session of a lab capture as SIP (they all carry SIP): the traversal
    zone's 7001, and every port of tshark's TLS port table, which an ephemeral client port can
    hit (Expressway's 25000-29999 holds 27017, MongoDB's) and which would otherwise take the
    plaintext away from SIP."""
    tshark = shutil.which("tshark")
    ports = {seed.TRAVERSAL_PORT, *(tls_port_table(tshark) if tshark else {})}
    return [arg for port in sorted(ports) for arg in ("-d", f"tls.port=={port},sip")]
