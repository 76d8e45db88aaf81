"""Kernel primitives, part 3: links, addresses and routes over rtnetlink (pyroute2).

Part of the kernel layer (``lab/kernel/``). One :class:`Rtnl` is one netlink socket *opened
inside one namespace*: open it from a thread that is in that namespace (right after
:func:`lab.kernel.namespaces.create_netns`, or after entering it); it keeps talking to that
namespace wherever it is used from, as long as it stays in the thread that opened it.

A veth pair is created from one namespace with its peer born directly in another (the peer's
namespace given by an open file descriptor), so no lab link ever exists in the root namespace
and two labs never compete for interface names.
"""

from __future__ import annotations

import contextlib
import importlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Any

from lab.base.errors import LabError
from lab.kernel.setns import run_in_netns

IFF_UP = 0x1
IFF_LOWER_UP = 0x10000  # the carrier (RFC 2863 operStatus lower layer), rtnetlink.h


@dataclass(frozen=True)
class LinkInfo:
    """One interface as seen by ``uclab status``."""

    name: str
    kind: str
    up: bool
    master: str | None
    addresses: tuple[IPv4Interface, ...]
    peer_netnsid: int | None  # veth: the namespace id (in this namespace) of the other end
    carrier: bool = True  # IFF_LOWER_UP: a veth has it when its other end is up


@dataclass(frozen=True)
class RouteInfo:
    dst: IPv4Network
    via: IPv4Address | None
    dev: str


def preload() -> threading.Thread:
    """Import pyroute2 (0.1 s of pure Python) in the background while the caller waits on
    something else (the ``nft -c`` checks); the import lock makes later imports wait for it."""
    thread = threading.Thread(target=importlib.import_module, args=("pyroute2",),
                              name="preload-pyroute2", daemon=True)
    thread.start()
    return thread


class Rtnl:
    """rtnetlink of the namespace the calling thread is in when it is constructed."""

    def __init__(self, where: str) -> None:
        from pyroute2 import IPRoute  # noqa: PLC0415 (0.14 s: only when building/inspecting)

        self.where = where
        self.ipr: Any = IPRoute()
        self._index: dict[str, int] = {}

    def close(self) -> None:
        self.ipr.close()

    def _do(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from pyroute2 import NetlinkError  # noqa: PLC0415

        try:
            return fn(*args, **kwargs)
        except NetlinkError as exc:
            raise LabError(f"{self.where}: {what}: {exc.args[-1] if exc.args else exc}") from None

    # -- building ------------------------------------------------------------------------------
    def add_veth(self, ifname: str, peer: str, peer_ns_fd: int) -> None:
        """Create veth ``ifname`` here with its peer ``peer`` born in the namespace on fd."""
        self._do(f"veth {ifname} <-> {peer}", self.ipr.link, "add", ifname=ifname, kind="veth",
                 peer={"ifname": peer, "net_ns_fd": peer_ns_fd})

    def add_bridge(self, ifname: str) -> None:
        self._do(f"bridge {ifname}", self.ipr.link, "add", ifname=ifname, kind="bridge",
                 br_stp_state=0, br_forward_delay=0)

    def refresh(self) -> None:
        """Learn the interface indexes (one dump; call it after creating links)."""
        self._index = {str(m.get_attr("IFLA_IFNAME")): int(m["index"])
                       for m in self._do("list links", self.ipr.get_links)}

    def index(self, ifname: str) -> int:
        if ifname not in self._index:
            self.refresh()
        try:
            return self._index[ifname]
        except KeyError:
            raise LabError(f"{self.where}: no interface {ifname}") from None

    def set_master(self, ifname: str, bridge: str) -> None:
        self._do(f"{ifname} into {bridge}", self.ipr.link, "set", index=self.index(ifname),
                 master=self.index(bridge))

    def add_address(self, ifname: str, address: IPv4Interface) -> None:
        self._do(f"address {address} on {ifname}", self.ipr.addr, "add",
                 index=self.index(ifname), address=str(address.ip),
                 prefixlen=address.network.prefixlen)

    def up(self, ifname: str) -> None:
        self._do(f"{ifname} up", self.ipr.link, "set", index=self.index(ifname), state="up")

    def add_route(self, dst: IPv4Network, via: IPv4Address) -> None:
        self._do(f"route {dst} via {via}", self.ipr.route, "add", dst=str(dst),
                 gateway=str(via))

    # -- inspecting ----------------------------------------------------------------------------
    def links(self) -> list[LinkInfo]:
        links = self._do("list links", self.ipr.get_links)
        addrs = self._do("list addresses", self.ipr.get_addr, family=socket.AF_INET)
        by_index: dict[int, list[IPv4Interface]] = {}
        for a in addrs:
            by_index.setdefault(int(a["index"]), []).append(
                IPv4Interface(f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}"))
        names = {int(m["index"]): str(m.get_attr("IFLA_IFNAME")) for m in links}
        out = []
        for m in links:
            info = m.get_attr("IFLA_LINKINFO")
            kind = str(info.get_attr("IFLA_INFO_KIND")) if info is not None else "device"
            master = m.get_attr("IFLA_MASTER")
            nsid = m.get_attr("IFLA_LINK_NETNSID")
            out.append(LinkInfo(
                name=names[int(m["index"])], kind=kind if kind != "None" else "device",
                up=bool(m["flags"] & IFF_UP), master=names.get(master) if master else None,
                addresses=tuple(by_index.get(int(m["index"]), ())),
                peer_netnsid=int(nsid) if nsid is not None else None,
                carrier=bool(m["flags"] & IFF_LOWER_UP)))
        return out

    def routes(self) -> list[RouteInfo]:
        names = {int(m["index"]): str(m.get_attr("IFLA_IFNAME"))
                 for m in self._do("list links", self.ipr.get_links)}
        out = []
        for r in self._do("list routes", self.ipr.get_routes, family=socket.AF_INET,
                          table=254):
            dst = r.get_attr("RTA_DST") or str(IPv4Address(0))
            gw = r.get_attr("RTA_GATEWAY")
            out.append(RouteInfo(
                dst=IPv4Network(f"{dst}/{r['dst_len']}"),
                via=IPv4Address(gw) if gw else None,
                dev=names.get(int(r.get_attr("RTA_OIF") or 0), "?")))
        return out


# --- firewall probes (owner: lab/firewall) ----------------------------------------------------


def _route(ns: str, dst: IPv4Network, via: IPv4Address, action: str) -> None:
    def run() -> None:
        rtnl = Rtnl(ns)
        try:
            rtnl._do(f"route {action} {dst} via {via}", rtnl.ipr.route, action, dst=str(dst),
                     gateway=str(via))
        finally:
            rtnl.close()

    run_in_netns(ns, run, timeout=10)


@contextlib.contextmanager
def temporary_route(ns: str, dst: IPv4Network, via: IPv4Address) -> Iterator[None]:
    """A route ``dst via via`` in namespace ``ns`` for the duration of the ``with`` block, then
    removed (also on error). Firewall probes use it to send, from a node that has no route
    there, a packet that the firewall between must judge (it goes no further: the gateway does
    not forward)."""
    _route(ns, dst, via, "add")
    try:
        yield
    finally:
        _route(ns, dst, via, "del")


# --- scenario faults (owner: lab/run/faults.py) -----------------------------------------------


def set_link_state(ns: str, ifname: str, up: bool) -> None:
    """Set interface ``ifname`` of namespace ``ns`` up or down (a link cut: a veth's other end
    loses its carrier too)."""

    def run() -> None:
        rtnl = Rtnl(ns)
        try:
            rtnl._do(f"{ifname} {'up' if up else 'down'}", rtnl.ipr.link, "set",
                     index=rtnl.index(ifname), state="up" if up else "down")
        finally:
            rtnl.close()

    run_in_netns(ns, run, timeout=10)
