"""RFC 3261 §17 / RFC 6026 transaction tables on a reliable transport:
(state, event, time) -> (actions, next state), with time as an argument."""

from __future__ import annotations

import pytest

from lab.proto.sip.core import response_to
from lab.proto.sip.errors import ProtocolError
from lab.proto.sip.message import Header, Request
from lab.proto.sip.transaction import Action, Kind, Transaction
from lab.proto.sip.uri import Uri

A = Action


def _req(method: str) -> Request:
    return Request((Header("Via", "SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bKabc"),
                    Header("From", "<sip:a@x>;tag=1"), Header("To", "<sip:b@y>"),
                    Header("Call-ID", "c1"), Header("CSeq", f"1 {method}"),
                    Header("Max-Forwards", "70")), b"", method, Uri("sip", "y", "b"))


def _run(kind: Kind, method: str, steps: list[tuple[str, float]]) -> list[tuple[str, tuple[
        Action, ...]]]:
    req = _req(method)
    txn = Transaction(kind, req, 0.0)
    out = [(txn.state, tuple(o.action for o in txn.outputs))]
    for event, now in steps:
        if event.startswith("timer"):
            outs = txn.handle_timer(now)
        elif event.startswith("tu-"):
            outs = txn.respond(response_to(req, int(event[3:]), to_tag="t"), now)
        elif event == "ACK":
            outs = txn.receive_request(_req("ACK"), now)
        elif event == "retransmission":
            outs = txn.receive_request(req, now)
        else:
            outs = txn.receive_response(response_to(req, int(event), to_tag="t"), now)
        out.append((txn.state, tuple(o.action for o in outs)))
    return out


TABLES = [
    (Kind.ICT, "INVITE", [("100", 0.1), ("180", 0.2), ("486", 0.3), ("timer", 0.3)],
     [("calling", (A.SEND_REQUEST,)), ("proceeding", (A.PASS_TO_TU,)),
      ("proceeding", (A.PASS_TO_TU,)), ("completed", (A.SEND_ACK, A.PASS_TO_TU)),
      ("terminated", ())]),
    (Kind.ICT, "INVITE", [("200", 1.0), ("200", 2.0), ("timer", 32.9), ("timer", 33.0)],
     [("calling", (A.SEND_REQUEST,)), ("accepted", (A.PASS_TO_TU,)),
      ("accepted", (A.PASS_TO_TU,)), ("accepted", ()), ("terminated", ())]),
    (Kind.ICT, "INVITE", [("timer", 31.9), ("timer", 32.0)],
     [("calling", (A.SEND_REQUEST,)), ("calling", ()), ("terminated", (A.TIMEOUT,))]),
    (Kind.NICT, "BYE", [("200", 0.5), ("timer", 0.5)],
     [("trying", (A.SEND_REQUEST,)), ("completed", (A.PASS_TO_TU,)), ("terminated", ())]),
    (Kind.NICT, "BYE", [("timer", 32.0)],
     [("trying", (A.SEND_REQUEST,)), ("terminated", (A.TIMEOUT,))]),
    (Kind.IST, "INVITE", [("retransmission", 0.1), ("tu-200", 1.0), ("timer", 33.0)],
     [("proceeding", (A.SEND_TRYING, A.PASS_TO_TU)), ("proceeding", (A.RESEND_RESPONSE,)),
      ("accepted", (A.SEND_RESPONSE,)), ("terminated", ())]),
    (Kind.IST, "INVITE", [("tu-403", 1.0), ("ACK", 1.2), ("timer", 1.2)],
     [("proceeding", (A.SEND_TRYING, A.PASS_TO_TU)), ("completed", (A.SEND_RESPONSE,)),
      ("confirmed", ()), ("terminated", ())]),
    (Kind.IST, "INVITE", [("tu-403", 1.0), ("timer", 33.0)],
     [("proceeding", (A.SEND_TRYING, A.PASS_TO_TU)), ("completed", (A.SEND_RESPONSE,)),
      ("terminated", (A.TIMEOUT,))]),
    (Kind.NIST, "BYE", [("tu-200", 0.1), ("retransmission", 0.1), ("timer", 0.1)],
     [("trying", (A.PASS_TO_TU,)), ("completed", (A.SEND_RESPONSE,)),
      ("completed", (A.RESEND_RESPONSE,)), ("terminated", ())]),
]


@pytest.mark.parametrize(("kind", "method", "steps", "expected"), TABLES)
def test_transaction_table(kind: Kind, method: str, steps: list[tuple[str, float]],
                           expected: list[tuple[str, tuple[Action, ...]]]) -> None:
    assert _run(kind, method, steps) == expected


def test_deadlines_and_ack_for_non_2xx() -> None:
    req = _req("INVITE")
    txn = Transaction(Kind.ICT, req, 10.0)
    assert txn.next_deadline() == 42.0  # Timer B = 64*T1
    outs = txn.receive_response(response_to(req, 486, to_tag="t9"), 11.0)
    ack = outs[0].message
    assert isinstance(ack, Request) and ack.method == "ACK" and ack.to.tag == "t9"
    assert ack.via[0].branch == "z9hG4bKabc" and ack.cseq.seq == 1
    assert txn.next_deadline() == 11.0  # Timer D = 0 on TCP


def test_misuse_is_a_protocol_error() -> None:
    req = _req("INVITE")
    txn = Transaction(Kind.ICT, req, 0.0)
    with pytest.raises(ProtocolError):
        txn.respond(response_to(req, 200), 0.0)  # a client transaction sends no response
