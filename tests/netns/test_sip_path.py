"""The seed's three-proxy SIP path over real TLS (and TCP) in namespaces: the traversal zone
comes up from Expressway-C, INVITE/200/ACK, re-INVITE from the Skype side, BYE from CMS; new
connections from the Expressways use source ports 25000-29999; TLS writes the key log."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from lab.aio.sip_ua import Answer, CallFailed, Reject
from lab.proto.sip.ua import Call
from tests import sipseed as seed
from tests.nethelp import NetBench, wait_until
from tests.netns.siplab import SeedPath, build_namespaces, make_pki


def _wait_zone(path: SeedPath) -> None:
    wait_until(lambda: "traversal" in path.expe.core.zone_flows, "the traversal zone comes up",
               within=5.0, step=0.05)


@pytest.mark.parametrize("kind", ["tls", "tcp"])
def test_seed_call_through_three_proxies(netbench: Callable[[], NetBench], tmp_path: Path,
                                         kind: str) -> None:
    ns = build_namespaces(netbench())
    p = make_pki(tmp_path / "pki") if kind == "tls" else None

    async def answer(call: Call, offer: bytes) -> Answer | Reject:
        await asyncio.sleep(0.2)  # CMS allocates TURN before answering
        if b"forbidden" in offer:
            return Reject(403, "Forbidden", (("ms-diagnostics-public",
                                              '21002;reason="Attendees cannot share"'),))
        return Answer(b"answer to " + offer)

    path = SeedPath(ns, p, kind, answer)
    try:
        _wait_zone(path)
        client, cms = path.client, path.cms
        ct = path.client_thread
        call, ans = ct.call(client.invite(seed.meeting_uri(), b"offer-1"))
        assert ans == b"answer to offer-1"
        cms_call = path.threads[3].call(cms.incoming.get())
        path.threads[3].call(cms.wait_acked(cms_call))
        assert ct.call(client.reinvite(call, b"offer-2")) == b"answer to offer-2"
        conns = ns["expe"].exec("ss", "-tnH", "state", "established").stdout
        path.threads[3].call(cms.bye(cms_call))
        ct.call(client.wait_ended(call))
        after = ns["expe"].exec("ss", "-tnH", "state", "established").stdout
        with pytest.raises(CallFailed) as err:
            ct.call(client.invite(seed.meeting_uri(), b"forbidden"))
        assert err.value.status == 403
    finally:
        errors = path.stop()
    assert not errors
    port = seed.SIP_PORT[kind]
    # the traversal zone: opened by Expressway-C from 25000-29999, never the other way
    trav = [ln.split() for ln in conns.splitlines() if f"10.48.54.229:{seed.TRAVERSAL_PORT}" in ln]
    assert len(trav) == 1 and 25000 <= int(trav[0][3].rsplit(":", 1)[1]) <= 29999
    # the BYE made Expressway-E open a connection to the Edge from 25000-29999
    out = [ln.split() for ln in after.splitlines() if f"192.168.1.252:{port}" in ln.split()[3]]
    assert out and all(25000 <= int(f[2].rsplit(":", 1)[1]) <= 29999 for f in out)
    if p is not None:
        keylog = p.keylog.read_text()
        assert "CLIENT_HANDSHAKE_TRAFFIC_SECRET" in keylog or "CLIENT_RANDOM" in keylog
