"""TURN server configuration: address ranges, peer policy, and the commands' input errors."""

from __future__ import annotations

import ipaddress

import pytest

from lab.base.errors import InputError
from lab.cli import build_parser
from lab.cli.turn_cmds import build_config, parse_addr, parse_user
from lab.proto.turn.config import IPRange, PeerPolicy, TurnServerConfig


@pytest.mark.parametrize(("text", "first", "last"), [
    ("10.0.0.1", "10.0.0.1", "10.0.0.1"),
    ("10.0.0.0-10.0.0.255", "10.0.0.0", "10.0.0.255"),
    ("192.168.0.0/16", "192.168.0.0", "192.168.255.255"),
    ("fd00::/8", "fd00::", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
])
def test_ranges(text: str, first: str, last: str) -> None:
    r = IPRange.parse(text)
    assert (str(r.first), str(r.last)) == (first, last)
    assert ipaddress.ip_address(first) in r and ipaddress.ip_address(last) in r


@pytest.mark.parametrize("text", ["10.0.0.9-10.0.0.1", "10.0.0.1-::1", "nonsense", "10.0.0/33"])
def test_bad_ranges_name_the_forms(text: str) -> None:
    with pytest.raises(ValueError, match="bad address range"):
        IPRange.parse(text)


def test_policy_order_like_coturn() -> None:
    policy = PeerPolicy.from_text(allowed=["10.1.2.3", "127.0.0.1"], denied=["10.0.0.0/8"])
    assert policy.check("10.1.2.3") == ""
    assert "denied range 10.0.0.0-10.255.255.255" in policy.check("10.9.9.9")
    assert "loopback" in policy.check("127.0.0.1")  # allowed cannot override loopback
    assert PeerPolicy(allow_loopback=True).check("127.0.0.1") == ""
    assert "multicast" in policy.check("224.0.0.1")
    assert "unspecified" in policy.check("0.0.0.0")
    assert policy.check("192.168.1.252") == ""


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="relay port 70000"):
        TurnServerConfig((("1.1.1.1", 3478),), "1.1.1.2", (70000,), "R", {"u": "p"})
    with pytest.raises(ValueError, match="at least one user"):
        TurnServerConfig((("1.1.1.1", 3478),), "1.1.1.2", (1,), "R", {})


def test_command_input_errors_name_option_and_fix() -> None:
    with pytest.raises(InputError) as err:
        parse_addr("10.48.54.229", "--listen")
    assert "--listen '10.48.54.229' is not IP:PORT" in str(err.value)
    assert "fix: write it as --listen 10.48.54.229:3478" in str(err.value)
    with pytest.raises(InputError, match="NAME:PASSWORD"):
        parse_user("cms")
    args = build_parser().parse_args([
        "turn-server", "--listen", "10.48.54.229:3478", "--relay-ip", "192.168.1.229",
        "--relay-ports", "53577,51577", "--user", "cms:pw", "--denied-peer-ip", "10.0.0.0-x",
    ])
    with pytest.raises(InputError) as err2:
        build_config(args)
    assert "bad address range '10.0.0.0-x'" in str(err2.value)
    args.denied_peer_ip = []
    config = build_config(args)
    assert config.relay_ports == (53577, 51577) and config.users == {"cms": "pw"}


def test_turn_server_command_rejects_bad_port_range() -> None:
    args = build_parser().parse_args([
        "turn-server", "--listen", "10.48.54.229:3478", "--relay-ip", "192.168.1.229",
        "--min-port", "30000", "--max-port", "24000", "--user", "cms:pw",
    ])
    with pytest.raises(InputError, match="30000-24000 is empty or invalid"):
        build_config(args)
