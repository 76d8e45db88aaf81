"""RFC 4475 torture messages, byte-exact: valid ones parse, invalid ones raise the declared
ParseError with the status an element should answer (RFC 4475 §3.1.2, §3.3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.proto.sip.errors import ParseError
from lab.proto.sip.message import Request, Response, parse

DATA = Path(__file__).resolve().parent.parent / "data" / "sip" / "rfc4475"

VALID = [  # §3.1.1, §3.2, §3.3 (semantics are the cores' business), §3.4
    "wsinv", "intmeth", "esc01", "escnull", "esc02", "lwsdisp", "longreq", "dblreq", "semiuri",
    "transports", "mpart01", "unreason", "noreason", "badbranch", "unkscm", "novelsc",
    "unksm2", "bext01", "invut", "regaut01", "bcast", "zeromf", "cparam01", "cparam02",
    "regescrt", "sdp01", "inv2543",
    "baddate",  # §3.1.2.11: a liberal element may ignore a Date it does not use; we do
]
INVALID = {  # name -> status to answer (None: a response, nothing can be sent back)
    "badinv01": 400, "clerr": 400, "scalar02": 400, "scalarlg": 400, "quotbal": 400,
    "ltgtruri": 400, "lwsruri": 400, "lwsstart": 400, "trws": 400, "escruri": 400,
    "regbadct": 400, "badaspec": 400, "badvers": 505, "mismatch01": 400, "mismatch02": 400,
    "bigcode": None, "insuf": 400, "multi01": 400, "mcl01": 400, "ncl": 400,
}


def test_the_archive_is_complete() -> None:
    names = {p.stem for p in DATA.glob("*.dat")}
    assert names == set(VALID) | set(INVALID) | {"baddn"}
    assert len(names) == 49


@pytest.mark.parametrize("name", VALID)
def test_valid_messages_parse(name: str) -> None:
    msg = parse((DATA / f"{name}.dat").read_bytes())
    assert msg.call_id.startswith(name) or name == "mpart01"  # its Call-ID is a hash
    again = parse(msg.encode())  # what we write, we read back the same
    def strip(m: Request | Response) -> list[object]:
        return [h for h in m.headers if h.name != "Content-Length"]
    assert strip(again) == strip(msg) and again.body == msg.body


@pytest.mark.parametrize(("name", "status"), sorted(INVALID.items()))
def test_invalid_messages_raise_the_declared_error(name: str, status: int | None) -> None:
    with pytest.raises(ParseError) as err:
        parse((DATA / f"{name}.dat").read_bytes())
    assert err.value.status == status


def test_baddn_unquoted_display_name() -> None:
    data = (DATA / "baddn.dat").read_bytes()
    with pytest.raises(ParseError):
        parse(data)  # the archive's copy even lacks the empty line
    with pytest.raises(ParseError, match="display name") as err:
        parse(data + b"\r\n")
    assert err.value.status == 400


def test_wsinv_fields() -> None:
    msg = parse((DATA / "wsinv.dat").read_bytes())
    assert isinstance(msg, Request)
    assert msg.method == "INVITE" and msg.uri.param("unknownparam") == ""
    assert msg.to.tag == "1918181833n" and msg.from_.tag == "98asjd8"
    assert msg.from_.display == 'J Rosenberg \\"'
    assert msg.max_forwards == 68 and msg.cseq.seq == 9 and msg.cseq.method == "INVITE"
    assert [(v.transport, v.host, v.branch) for v in msg.via] == [
        ("UDP", "192.0.2.2", "390skdjuw"), ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239")]
    assert msg.get("Subject") == "" and msg.get("s") == ""
    assert msg.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert msg.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    assert msg.route[0].uri.lr and msg.content_length == 150 and len(msg.body) == 150
    contact = msg.contact[0]
    assert contact.display == 'Quoted string ""' and contact.param("q") == "0.33"
    assert contact.param("secondparam") == ""


def test_dblreq_drops_the_trailing_request_and_unreason_keeps_utf8() -> None:
    msg = parse((DATA / "dblreq.dat").read_bytes())
    assert isinstance(msg, Request) and msg.method == "REGISTER" and msg.body == b""
    resp = parse((DATA / "unreason.dat").read_bytes())
    assert isinstance(resp, Response) and resp.status == 200 and "простое" in resp.reason
    nr = parse((DATA / "noreason.dat").read_bytes())
    assert isinstance(nr, Response) and nr.reason == ""


def test_intmeth_unusual_characters() -> None:
    msg = parse((DATA / "intmeth.dat").read_bytes())
    assert isinstance(msg, Request)
    assert msg.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert msg.uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert msg.from_.tag == "_token~1'+`*%!-."
    assert msg.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
