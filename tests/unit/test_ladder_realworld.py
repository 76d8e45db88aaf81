"""The ladder on captures of real peers that are not the share (tests/data/ladder/realworld,
made by its make.sh; its README says how each capture was made): it claims no step that is not
there, blames nothing unrelated, and says what it could not read."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest
from rich.console import Console

from lab.base.errors import InputError
from lab.capture import read_capture
from lab.cli import main
from lab.cli.progress import ProgressBar
from lab.ladder import build_ladder, load_names, make_names
from lab.ladder.explain import explain
from lab.ladder.render_html import ladder_html
from lab.ladder.render_text import report
from lab.ladder.verdict import bounded

DATA = Path(__file__).resolve().parent.parent / "data" / "ladder" / "realworld"


def _text(ladder: object) -> str:
    console = Console(file=io.StringIO(), width=160, color_system=None)
    console.print(report(ladder, 160))  # type: ignore[arg-type]
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(out, str)
    return out


# --- class 1: a TURN allocation that is not the share's ------------------------------------

def test_udp_relay_over_tcp_gives_no_column_and_no_turn_step() -> None:
    """coturn's turnutils_uclient -t -G: TURN over TCP asking for a UDP relay
    (REQUESTED-TRANSPORT 17), CreatePermission, ChannelBind, Send/Data; no SIP, no
    ConnectionAttempt. Nothing in it is evidence of the share."""
    ladder = build_ladder(DATA / "turn-tcp-udp-relay.pcap")
    assert all(not col.addresses for col in ladder.names.columns)
    assert [s.number for s in ladder.steps if s.seen] == []
    assert ladder.verdict.stopped_at == 1 and ladder.verdict.node == "Skype for Business"
    assert not any("Meeting Server" in r for r in ladder.verdict.reasons)


def test_udp_relay_is_not_step_6_even_between_the_named_columns(tmp_path: Path) -> None:
    """The same capture with a names file that calls the TURN client the Meeting Server and
    coturn Expressway-E: step 6 is an Allocate asking for a TCP relay; this one asks for UDP,
    and the reason says so."""
    names = make_names({"cms": ["10.212.0.1"], "expressway-e": ["10.212.0.2", "10.212.3.2"]})
    ladder = build_ladder(DATA / "turn-tcp-udp-relay.pcap", names=names)
    assert not any(ladder.steps[n - 1].seen for n in (6, 7, 8, 9, 10))
    notes = " ".join(explain(ladder.steps[5], ladder.steps, ladder.analysis, ladder.names))
    assert "REQUESTED-TRANSPORT 17 (UDP)" in notes


# --- class 2: UDP RTP is not step 33; a reason is true ------------------------------------

def test_udp_rtp_between_named_columns_is_not_step_33() -> None:
    """sipp's UAC (uac_pcap, G.711 from its g711a.pcap) through kamailio to sipp's UAS
    (-rtp_echo): UDP RTP between the two columns the names file gives the user agents."""
    ladder = build_ladder(DATA / "sip-udp-rtp.pcap", names=DATA / "sip-udp-rtp.names.yaml")
    step = ladder.steps[32]
    assert not step.seen
    notes = explain(step, ladder.steps, ladder.analysis, ladder.names)
    assert any("UDP" in n and "RFC 4571" in n for n in notes), notes


def test_a_reason_never_denies_a_message_the_capture_has() -> None:
    """With the UAC as Skype for Business and kamailio as Expressway-E, the capture has ACKs
    from the one to the other (not of a share dialog): the reason for step 14 says so."""
    names = make_names({"sfb": ["10.212.0.1"], "expressway-e": ["10.212.0.2", "10.212.3.2"],
                        "cms": ["10.212.3.1"]})
    ladder = build_ladder(DATA / "sip-udp-rtp.pcap", names=names)
    step = dataclasses.replace(ladder.steps[13], notes=[])  # as if it were where it stopped
    notes = explain(step, ladder.steps, ladder.analysis, ladder.names)
    assert not any(n.startswith("no ACK from") for n in notes), notes
    assert any("ACK" in n and "frame" in n for n in notes), notes


# --- class 3: unrelated SIP errors are not the reason -------------------------------------

@pytest.mark.parametrize("name", ["sip-udp-rtp.pcap", "sip-tcp-rtp.pcap"])
def test_unrelated_sip_errors_are_summarised_not_reasons(name: str) -> None:
    """kamailio's 401 to sipp's REGISTER and 404 to an INVITE for "nobody": no share INVITE
    in the capture, so neither is why the share stopped; both are counted apart, bounded."""
    ladder = build_ladder(DATA / name)
    assert not any("401" in r or "404" in r for r in ladder.verdict.reasons), \
        ladder.verdict.reasons
    other = " ".join(ladder.verdict.other)
    assert "401 Unauthorized x1 (REGISTER)" in other and "404 Not Found x1 (INVITE)" in other


# --- class 4: MS-TURN ---------------------------------------------------------------------

def test_msturn_messages_are_counted_and_reported() -> None:
    """MS-TURN messages laid out from the MS-TURN specification (msturn_gen.py, no MS-TURN
    peer exists on Debian): none is lost without a word."""
    ladder = build_ladder(DATA / "msturn-udp.pcap")
    text = " ".join(ladder.analysis.warnings)
    assert "6 MS-TURN messages" in text, ladder.analysis.warnings
    assert "Allocate Request x2" in text and "Data Indication x1" in text


# --- class 5: data lost silently ------------------------------------------------------------

def test_snap_length_cut_is_reported() -> None:
    """editcap -s 200 of the UDP call: every SIP message longer than the snap length is cut."""
    ladder = build_ladder(DATA / "sip-udp-snap200.pcap")
    text = " ".join(ladder.analysis.warnings)
    assert "cut by the snap length" in text, ladder.analysis.warnings
    assert "SIP" in text


@pytest.mark.parametrize("name", ["sip-gre.pcap", "sip-ipip.pcap", "sip-erspan.pcap",
                                  "sip-ppp.pcap"])
def test_encapsulations_are_unwrapped(name: str) -> None:
    """kamailio's REGISTER exchange re-wrapped by encap.py and written by text2pcap."""
    analysis = build_ladder(DATA / name).analysis
    labels = [e.label for e in analysis.events]
    assert labels == ["REGISTER", "401 Unauthorized"], (labels, analysis.warnings)


def test_ip_fragments_v4_and_v6_are_reassembled() -> None:
    """sipp's large INVITE to kamailio over an MTU of 576 (IPv4) and over IPv6 (1500)."""
    analysis = build_ladder(DATA / "sip-fragments.pcap").analysis
    invites = [e for e in analysis.events if e.sip is not None and e.sip.method == "INVITE"]
    assert {e.src.ip for e in invites} == {"10.212.0.1", "fd12::1"}
    assert all(len(e.sip.body) == 0 and "X-Padding" not in e.sip.start_line for e in invites
               if e.sip is not None)


def test_no_names_hint_when_names_were_given(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    names = tmp_path / "n.yaml"
    names.write_text("columns:\n  sfb: {addresses: [192.0.2.7]}\n")
    main(["ladder", str(DATA / "turn-udp.pcap"), "--names", str(names), "--width", "120"])
    out = capsys.readouterr().out
    assert "say which address is which" not in out
    assert "names file" in out


# --- class 7: control bytes ---------------------------------------------------------------

def test_control_bytes_are_escaped_in_text_and_html() -> None:
    """The UDP call with one byte of the 404's reason phrase replaced by NUL (a fuzzer's
    change, make.sh)."""
    names = make_names({"sfb": ["10.212.0.1"], "expressway-e": ["10.212.0.2", "10.212.3.2"]})
    ladder = build_ladder(DATA / "sip-nul-reason.pcap", names=names)
    text = _text(ladder)
    assert "\x00" not in text and "Not\\x00Found" in text
    html = ladder_html(ladder)
    assert "\x00" not in html and "Not\\x00Found" in html


# --- class 8 --------------------------------------------------------------------------------

def test_cut_section_header_is_damaged_input(capsys: pytest.CaptureFixture[str]) -> None:
    """The first 20 bytes of a pcapng (its Section Header Block is 28 bytes or more)."""
    with pytest.raises(InputError, match="damaged"):
        read_capture(DATA / "cut-section-header.pcapng")
    assert main(["ladder", str(DATA / "cut-section-header.pcapng")]) == 2


def test_without_syn_the_sip_requester_is_the_client() -> None:
    """sipp's UAC from port 21xxx to sipp's UAS on 40000, its SYN, SYN-ACK and ACK cut by
    editcap: the client is who sent the INVITE, not the higher port."""
    analysis = build_ladder(DATA / "sip-tcp-40000-nosyn.pcap").analysis
    conn = analysis.connections[0]
    assert conn.client.ip == "10.212.3.2" and conn.server.port == 40000


def test_tls_counts_are_per_connection() -> None:
    cap = read_capture(DATA.parent / "sip-tls-from-port-27017.pcapng")
    cap.tls_keylog = b""
    ladder = build_ladder(cap)
    tls = [c for c in ladder.analysis.connections if c.protocol.startswith("TLS")]
    assert ladder.analysis.tls_opaque == len(tls) > 0


def test_names_file_with_one_address_in_two_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "names.yaml"
    path.write_text("columns:\n  sfb: {addresses: [10.0.0.1]}\n"
                    "  cms: {addresses: [10.0.0.2, 10.0.0.1]}\n")
    with pytest.raises(InputError, match=r"10\.0\.0\.1.* two columns"):
        load_names(path)


# --- class 6: media statistics ------------------------------------------------------------

def test_g711_jitter_uses_its_8000_hz_clock() -> None:
    """tshark -z rtp,streams on this capture: g711A jitter max 0.76 ms, mean 0.2 ms."""
    ladder = build_ladder(DATA / "sip-udp-rtp.pcap")
    g711 = [m for m in ladder.media if m.payload_types == [8]]
    assert len(g711) == 2
    assert all(0.0 < m.jitter_ms < 1.0 and m.clock_rate == 8000 for m in g711), \
        [(m.jitter_ms, m.packets) for m in g711]
    assert all(m.packets == 236 for m in g711)  # each packet once, though seen on 2 interfaces
    # the jitter over time (the web page's media chart) is in the same clock
    assert all(abs(m.timeline[-1][2] - m.jitter_ms) < 1e-9 for m in g711)


# --- streaming ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["sip-udp-rtp.pcap", "sip-tcp-rtp.pcap",
                                  "turn-tcp-udp-relay.pcap", "sip-fragments.pcap"])
def test_streamed_capture_reads_like_the_whole_file(name: str) -> None:
    """build_ladder streams a path (lab.capture.stream); a Capture read whole gives the same
    events, media and warnings."""
    streamed = build_ladder(DATA / name)
    whole = build_ladder(read_capture(DATA / name))
    assert [(e.frame, e.label) for e in streamed.analysis.events] == [
        (e.frame, e.label) for e in whole.analysis.events]
    assert [(m.src, m.packets) for m in streamed.media] == [(m.src, m.packets)
                                                            for m in whole.media]
    assert streamed.analysis.packets == whole.analysis.packets
    assert streamed.analysis.warnings == whole.analysis.warnings


def test_streamed_tls_is_decrypted_like_the_whole_file() -> None:
    path = DATA.parent / "sip-tls-from-port-27017.pcapng"
    streamed, whole = build_ladder(path), build_ladder(read_capture(path))
    assert streamed.analysis.tls_decrypted == whole.analysis.tls_decrypted > 0
    assert [e.label for e in streamed.analysis.events] == [e.label for e in
                                                            whole.analysis.events]


def test_progress_bar_on_a_stream() -> None:
    out = io.StringIO()
    bar = ProgressBar("reading x", out, force=True, min_size=0, every=0.0)
    build_ladder(DATA / "sip-udp-rtp.pcap", progress=bar)
    text = out.getvalue()
    assert text.startswith("\rreading x [") and "] 100% " in text and text.endswith(" s\n")


def test_reasons_are_bounded() -> None:
    many = [f"TCP connect 10.0.0.{i}:5000 -> 10.0.1.1:5061 never answered" for i in range(40)]
    out = bounded(many)
    assert len(out) == 12 and out[:11] == many[:11]
    assert out[-1].startswith("and 29 more reasons")
    assert bounded(many[:3]) == many[:3]


def test_rtcp_is_counted_with_its_rtp_leg() -> None:
    """The seed capture (tests/data/ladder/README.md): RTP and RTCP over RFC 4571 on the
    bridged path; the media table shows both, not a leg of "0 packets"."""
    ladder = build_ladder(DATA.parent / "seed-flow-tcp.pcapng")
    assert all(m.packets > 0 and m.rtcp > 0 for m in ladder.media)
    text = _text(ladder)
    assert "(+3 RTCP)" in text
