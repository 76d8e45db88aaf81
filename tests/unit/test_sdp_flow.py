"""flow.md §4: the offer and the answer, rebuilt from the seed's inputs, character for character.

The inputs are transport addresses (types, ports, addresses, related addresses) in gathering
order; foundations and priorities are computed. The expected lines below are also checked against
the spec itself (``docs/spec/flow.md``).
"""

from __future__ import annotations

import re
from pathlib import Path

from lab.proto.sdp import (
    CandidateSpec,
    IceCredentials,
    Origin,
    SessionDescription,
    build_share_answer,
    build_share_offer,
    ice_credentials,
    share_media,
)

FLOW = Path(__file__).resolve().parents[2] / "docs" / "spec" / "flow.md"

OFFER = """\
m=applicationsharing 51577 TCP/RTP/AVP 127
a=candidate:1 1 TCP-PASS 2120613887 192.168.251.128 18027 typ host
a=candidate:1 2 TCP-PASS 2120613374 192.168.251.128 18027 typ host
a=candidate:2 1 TCP-ACT 2121006591 192.168.251.128 13450 typ host
a=candidate:2 2 TCP-ACT 2121006078 192.168.251.128 13450 typ host
a=candidate:3 1 TCP-PASS 174455807 192.168.1.252 53577 typ relay raddr 10.149.4.201 rport 65417
a=candidate:3 2 TCP-PASS 174455294 192.168.1.252 53577 typ relay raddr 10.149.4.201 rport 65417
a=candidate:4 1 TCP-ACT 174848511 192.168.1.252 51577 typ relay raddr 10.149.4.201 rport 65417
a=candidate:4 2 TCP-ACT 174847998 192.168.1.252 51577 typ relay raddr 10.149.4.201 rport 65417
a=candidate:5 1 TCP-ACT 1684797439 10.149.4.201 65417 typ srflx raddr 192.168.251.128 rport 17676
a=candidate:5 2 TCP-ACT 1684796926 10.149.4.201 65417 typ srflx raddr 192.168.251.128 rport 17676
a=x-applicationsharing-role:sharer
a=x-applicationsharing-media-type:rdp
a=x-applicationsharing-session-id:1
"""

ANSWER = """\
m=applicationsharing 38547 TCP/RTP/SAVP 127
a=candidate:1 1 TCP-PASS 2130706431 10.48.54.230 38547 typ host
a=candidate:2 1 TCP-PASS 352321535 192.168.1.229 24000 typ relay raddr 10.48.54.230 rport 33347
a=x-applicationsharing-role:viewer
a=x-applicationsharing-media-type:rdp
a=x-applicationsharing-session-id:1
a=setup:passive
"""

CLIENT_SPECS = [
    CandidateSpec("host", "TCP-PASS", "192.168.251.128", 18027),
    CandidateSpec("host", "TCP-ACT", "192.168.251.128", 13450),
    CandidateSpec("relay", "TCP-PASS", "192.168.1.252", 53577, "10.149.4.201", 65417),
    CandidateSpec("relay", "TCP-ACT", "192.168.1.252", 51577, "10.149.4.201", 65417),
    CandidateSpec("srflx", "TCP-ACT", "10.149.4.201", 65417, "192.168.251.128", 17676),
]
CMS_SPECS = [
    CandidateSpec("host", "TCP-PASS", "10.48.54.230", 38547),
    CandidateSpec("relay", "TCP-PASS", "192.168.1.229", 24000, "10.48.54.230", 33347),
]


def _spec_blocks() -> list[str]:
    """The two ``` blocks of flow.md §4, with the spec's annotations removed."""
    text = FLOW.read_text()
    section = text[text.index("## 4. SDP"):text.index("## 5.")]
    blocks = re.findall(r"```\n(.*?)```", section, re.S)
    out = []
    for block in blocks:
        lines = []
        for raw in block.splitlines():
            line = re.split(r" {4,}", raw)[0].rstrip()  # drop "   port [GUESS] ..." notes
            lines += re.split(r" {3}(?=a=)", line)
        out.append("\n".join(lines) + "\n")
    return out


def _block(sd: SessionDescription) -> str:
    """The m= line and the attributes flow.md shows, in order (LAB lines filtered out)."""
    lab_only = ("ice-ufrag", "ice-pwd", "rtpmap")
    m = share_media(sd)
    lines = [m.render()[0]] + [f"a={a}" for a in m.attributes if a.name not in lab_only]
    return "\n".join(lines) + "\n"


def _offer() -> SessionDescription:
    return build_share_offer(CLIENT_SPECS, ice=IceCredentials("sfbU", "sfbpasswordsfbpassword1"),
                             origin=Origin("-", "1", "0", "192.168.251.128"))


def _answer() -> SessionDescription:
    return build_share_answer(CMS_SPECS, ice=IceCredentials("cmsU", "cmspasswordcmspassword1"),
                              origin=Origin("-", "2", "0", "10.48.54.230"))


def test_offer_is_flow_4_1() -> None:
    assert _block(_offer()) == OFFER


def test_answer_is_flow_4_2() -> None:
    assert _block(_answer()) == ANSWER


def test_blocks_match_the_spec_file() -> None:
    assert _spec_blocks() == [OFFER, ANSWER]


def test_built_sdp_round_trips_and_carries_ice_credentials() -> None:
    for sd in (_offer(), _answer()):
        text = str(sd)
        assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
        again = SessionDescription.parse(text)
        assert again == sd
        assert str(again) == text
    offer = SessionDescription.parse(str(_offer()))
    media = share_media(offer)
    assert ice_credentials(media).ufrag == "sfbU"
    assert media.connection is not None and media.connection.address == "192.168.1.252"
    assert [c.direction for c in media.candidates[:4]] == ["passive"] * 2 + ["active"] * 2
