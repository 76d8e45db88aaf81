"""SIP response matching against a misbehaving peer (RFC 3261 §17.1.3): a response goes to the
client transaction whose branch its top Via carries, and the CSeq method; a response with the
right method but a branch of no transaction of ours is a stray, dropped."""

from __future__ import annotations

from lab.proto.sip.core import Endpoint, Flow, Target
from lab.proto.sip.message import Request, Response, parse
from lab.proto.sip.transaction import Transaction

OPTIONS = (
    "OPTIONS sip:cms@10.48.54.230 SIP/2.0\r\n"
    "Via: SIP/2.0/TLS 10.48.54.229:5061;branch=z9hG4bKours\r\n"
    "From: <sip:expe@example.com>;tag=1\r\nTo: <sip:cms@10.48.54.230>\r\n"
    "Call-ID: hostile-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
)


def response(branch: str) -> Response:
    text = ("SIP/2.0 200 OK\r\n"
            f"Via: SIP/2.0/TLS 10.48.54.229:5061;branch={branch}\r\n"
            "From: <sip:expe@example.com>;tag=1\r\nTo: <sip:cms@10.48.54.230>;tag=2\r\n"
            "Call-ID: hostile-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
    msg = parse(text.encode())
    assert isinstance(msg, Response)
    return msg


class Recorder(Endpoint):
    def __init__(self) -> None:
        super().__init__("recorder")
        self.responses: list[tuple[int, Transaction]] = []

    def on_response(self, response: Response, txn: Transaction, now: float) -> None:
        self.responses.append((response.status, txn))


def test_a_response_for_no_branch_of_ours_is_dropped_not_matched_by_method() -> None:
    core = Recorder()
    request = parse(OPTIONS.encode())
    assert isinstance(request, Request)
    txn = core.send_request(request, Target("tls", "10.48.54.230", 5061), 0.0)
    flow = Flow(1, "tls", "")
    core.receive(response("z9hG4bKforged"), flow, 0.1)
    assert core.responses == []
    core.receive(response("z9hG4bKours"), flow, 0.2)
    assert core.responses == [(200, txn)]
