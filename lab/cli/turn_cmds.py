"""``uclab turn-server`` and ``uclab turn-probe``: our TURN stack as two commands anyone can use.
Both run in the current network namespace (wrap them in ``ip netns exec`` or ``uclab exec``)."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys
from typing import Any

from lab.base.errors import InputError

DEFAULT_REALM = "TANDBERG"


def register(sub: Any) -> None:
    p = sub.add_parser(
        "turn-server", help="a standalone TURN server (TCP, UDP; RFC 8656 + RFC 6062)",
        description="A TURN server like coturn's turnserver, listening on TCP (and UDP): long-term "
        "credentials, TCP allocations (RFC 6062) and UDP allocations (Send/Data indications, "
        "ChannelBind and ChannelData) relayed from --relay-ip, first free port of the range "
        "(or --relay-ports list) first. Example: uclab turn-server --listen "
        "10.48.54.229:3478 --relay-ip 192.168.1.229 --min-port 24000 --max-port 29999 "
        "--realm TANDBERG --user cms:secret")
    p.add_argument("--listen", metavar="IP:PORT", action="append", required=True,
                   help="listening address (TCP); repeatable")
    p.add_argument("--listen-udp", metavar="IP:PORT", action="append", default=[],
                   help="listening address for TURN over UDP too; repeatable")
    p.add_argument("--relay-ip", metavar="IP", required=True, help="address of relayed ports")
    p.add_argument("--min-port", type=int, default=24000, metavar="N")
    p.add_argument("--max-port", type=int, default=29999, metavar="M")
    p.add_argument("--relay-ports", metavar="P1,P2,...",
                   help="explicit ordered relay ports (instead of --min-port/--max-port)")
    p.add_argument("--realm", default=DEFAULT_REALM, metavar="R")
    p.add_argument("--user", metavar="NAME:PASSWORD", action="append", required=True,
                   help="a long-term credential; repeatable")
    p.add_argument("--denied-peer-ip", metavar="RANGE", action="append", default=[],
                   help="IP, IP-IP or IP/PREFIX the relay must not talk to; repeatable")
    p.add_argument("--allowed-peer-ip", metavar="RANGE", action="append", default=[],
                   help="exception to --denied-peer-ip; repeatable")
    p.add_argument("--allow-loopback-peers", action="store_true")
    p.add_argument("--user-quota", type=int, default=100, metavar="N",
                   help="concurrent allocations per user (default 100; 0: unlimited)")
    p.add_argument("--total-quota", type=int, default=0, metavar="N")
    p.add_argument("--max-connections", type=int, default=0, metavar="N",
                   help="client TCP connections at once (default 0: as many as the "
                   "descriptor limit allows, half of ulimit -n less 64)")
    p.add_argument("--refuse-tcp", action="store_true",
                   help="answer TCP allocations with 442, like an Expressway before X8.9")
    p.add_argument("--duration", type=float, default=0.0, metavar="SECONDS",
                   help="stop after SECONDS (0: run until interrupted)")
    p.set_defaults(func=cmd_turn_server)

    p = sub.add_parser(
        "turn-probe", help="try the RFC 6062 exchange against any TURN server",
        description="Allocate a TCP relay, then Connect to a peer (--connect) or wait for a "
        "peer to connect in (--accept-from); prints every message as a ladder and a verdict. "
        "Example: uclab turn-probe --server 10.48.54.229:3478 --user cms:secret "
        "--accept-from 192.168.1.252 --local-port 33347 --data-port 33348")
    p.add_argument("--server", metavar="IP:PORT", required=True)
    p.add_argument("--user", metavar="NAME:PASSWORD", required=True)
    p.add_argument("--realm", metavar="R", help="expected realm (checked against the server's)")
    way = p.add_mutually_exclusive_group(required=True)
    way.add_argument("--connect", metavar="PEER_IP:PORT", help="Connect to this TCP peer")
    way.add_argument("--accept-from", metavar="PEER_IP", help="wait for this peer to connect")
    p.add_argument("--local-port", type=int, default=0, metavar="N",
                   help="local port of the control connection")
    p.add_argument("--data-port", type=int, default=0, metavar="N",
                   help="local port of the data connection (ConnectionBind)")
    p.add_argument("--wait", type=float, default=60.0, metavar="SECONDS",
                   help="how long --accept-from waits for the peer (default 60)")
    p.set_defaults(func=cmd_turn_probe)


def parse_addr(text: str, option: str) -> tuple[str, int]:
    """``IP:PORT`` (``[v6]:PORT`` too) or an InputError naming the option and the fix."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    try:
        if not sep:
            raise ValueError
        ipaddress.ip_address(host)
        number = int(port)
        if not 1 <= number <= 65535:
            raise ValueError
    except ValueError:
        raise InputError(f"{option} {text!r} is not IP:PORT", option,
                         fix=f"write it as {option} 10.48.54.229:3478") from None
    return host, number


def parse_user(text: str, option: str = "--user") -> tuple[str, str]:
    name, sep, password = text.partition(":")
    if not sep or not name or not password:
        raise InputError(f"{option} {text!r} is not NAME:PASSWORD", option,
                         fix=f"write it as {option} cms:secret")
    return name, password


def _ports(args: argparse.Namespace) -> tuple[int, ...]:
    if args.relay_ports:
        try:
            ports = tuple(int(p) for p in args.relay_ports.split(","))
        except ValueError:
            raise InputError(f"--relay-ports {args.relay_ports!r} is not a list of ports",
                             "--relay-ports", fix="write it as --relay-ports 53577,51577") from None
        return ports
    if not 1 <= args.min_port <= args.max_port <= 65535:
        raise InputError(f"port range {args.min_port}-{args.max_port} is empty or invalid",
                         "--min-port/--max-port", fix="use 1 <= --min-port <= --max-port <= 65535")
    return tuple(range(args.min_port, args.max_port + 1))


def build_config(args: argparse.Namespace) -> Any:
    from lab.proto.turn.config import PeerPolicy, TurnServerConfig  # noqa: PLC0415

    try:
        policy = PeerPolicy.from_text(args.allowed_peer_ip, args.denied_peer_ip,
                                      args.allow_loopback_peers)
    except ValueError as exc:
        raise InputError(str(exc), "--denied-peer-ip/--allowed-peer-ip",
                         fix="write a range as 10.0.0.0-10.255.255.255 or 10.0.0.0/8") from None
    try:
        return TurnServerConfig(
            listen=tuple(parse_addr(a, "--listen") for a in args.listen),
            listen_udp=tuple(parse_addr(a, "--listen-udp") for a in args.listen_udp),
            relay_ip=args.relay_ip, relay_ports=_ports(args), realm=args.realm,
            users=dict(parse_user(u) for u in args.user), peer_policy=policy,
            user_quota=args.user_quota, total_quota=args.total_quota,
            max_client_connections=args.max_connections, refuse_tcp=args.refuse_tcp,
        )
    except ValueError as exc:
        raise InputError(str(exc), "uclab turn-server", fix="see uclab turn-server --help"
                         ) from None


def cmd_turn_server(args: argparse.Namespace) -> int:
    import asyncio  # noqa: PLC0415

    from lab.aio.turn_server import TurnServer  # noqa: PLC0415

    config = build_config(args)
    if not logging.getLogger().isEnabledFor(logging.INFO):
        logging.getLogger("lab.proto.turn").setLevel(logging.INFO)
        logging.getLogger("lab.aio").setLevel(logging.INFO)

    async def main() -> None:
        server = TurnServer(config)
        if args.duration > 0:
            try:
                async with asyncio.timeout(args.duration):
                    await server.serve()
            except TimeoutError:
                pass
        else:
            await server.serve()

    ports = config.relay_ports
    udp = "".join(f", {h}:{p} (UDP)" for h, p in config.listen_udp)
    print(f"uclab turn-server: listening on "
          f"{', '.join(f'{h}:{p}' for h, p in config.listen)}{udp}; relays on {config.relay_ip} "
          f"ports {ports[0]}..{ports[-1]} ({len(ports)}); realm {config.realm}", flush=True)
    asyncio.run(main())
    return 0


def cmd_turn_probe(args: argparse.Namespace) -> int:
    import asyncio  # noqa: PLC0415

    from lab.aio.turn_probe import ProbeOptions, run_probe  # noqa: PLC0415

    user, password = parse_user(args.user)
    server = parse_addr(args.server, "--server")
    connect = parse_addr(args.connect, "--connect") if args.connect else None
    if args.accept_from:
        try:
            ipaddress.ip_address(args.accept_from)
        except ValueError:
            raise InputError(f"--accept-from {args.accept_from!r} is not an IP address",
                             "--accept-from", fix="write it as --accept-from 192.168.1.252"
                             ) from None
    opts = ProbeOptions(server, user, password, realm=args.realm, connect=connect,
                        accept_from=args.accept_from, local_port=args.local_port,
                        data_port=args.data_port, wait=args.wait)

    def emit(line: str) -> None:
        print(line, flush=True)

    result = asyncio.run(run_probe(opts, emit))
    if result.received:
        emit(f"peer data: {result.received[:64]!r}")
    print(f"verdict: {result.verdict}",
          file=sys.stdout if result.ok else sys.stderr)
    return 0 if result.ok else 1
