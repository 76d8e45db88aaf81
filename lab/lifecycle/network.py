"""The ``network`` step: every node made by the lab's runtime, then sysctls, veths (peers
born in the other namespace), bridges, addresses and routes, all from one worker thread with
one netlink socket per namespace (:class:`lab.kernel.links.Rtnl`)."""

from __future__ import annotations

import os

from lab.kernel import links, namespaces
from lab.kernel.setns import enter_netns, netns_path
from lab.lifecycle.context import BuildContext
from lab.runtime.base import LinkingRuntime
from lab.topology import Node


# -- what each node gets ---------------------------------------------------------------------
def node_sysctls(node: Node) -> dict[str, int]:
    """Sysctls of a node's namespace, written before its links exist. Forwarding is written
    explicitly (a new namespace may inherit it from the host); IPv6 is off (an IPv4 lab, and
    quiet captures); ICMP errors are not rate-limited (Linux sends about two unreachables per
    destination and then one a second, so a doomed ICE check would fail with "timeout" instead
    of its real reason, "no route"); a firewall's bridge hands IPv4 to the inet hooks
    (br_netfilter)."""
    values = {
        "net.ipv6.conf.all.disable_ipv6": 1,
        "net.ipv6.conf.default.disable_ipv6": 1,
        "net.ipv4.ip_forward": 1 if node.forwarding else 0,
        "net.ipv4.icmp_ratelimit": 0,
    }
    if node.kind == "bridge":
        on = 1 if node.policy is not None else 0
        values["net.bridge.bridge-nf-call-iptables"] = on
        values["net.bridge.bridge-nf-call-ip6tables"] = on
        values["net.bridge.bridge-nf-call-arptables"] = 0
    return values


def build_network(ctx: BuildContext) -> None:
    """Namespaces, sysctls, veths (peers born in the other namespace), bridges, addresses,
    routes: all from one worker thread, one netlink socket per namespace."""
    namespaces.run_in_thread(lambda: _Network(ctx).build(), name=f"build:{ctx.lab}")


class _Network:
    def __init__(self, ctx: BuildContext) -> None:
        self.ctx = ctx
        self.rtnl: dict[str, links.Rtnl] = {}
        self.fds: dict[str, int] = {}

    def build(self) -> None:
        try:
            for node in self.ctx.topology.nodes:
                self._namespace(node)
            self._links()
            self._configure()
        finally:
            for r in self.rtnl.values():
                r.close()
            for fd in self.fds.values():
                os.close(fd)

    def _namespace(self, node: Node) -> None:
        handle = self.ctx.runtime.create(self.ctx.state, node)  # recorded, then made
        enter_netns(handle.netns)  # this thread configures it from inside
        self.fds[node.name] = os.open(netns_path(handle.netns), os.O_RDONLY | os.O_CLOEXEC)
        namespaces.write_sysctls(node_sysctls(node))
        self.rtnl[node.name] = links.Rtnl(handle.netns)

    def _links(self) -> None:
        for seg in self.ctx.topology.segments:
            if seg.bridge is None:
                a, b = seg.endpoints
                self._veth(a.node, a.interface, b.node, b.interface)
                continue
            self.rtnl[seg.bridge].add_bridge(seg.name)
            for end in seg.endpoints:  # the port in the bridge node is named after the node
                self._veth(end.node, end.interface, seg.bridge, end.node)

    def _veth(self, a: str, a_if: str, b: str, b_if: str) -> None:
        runtime = self.ctx.runtime
        if isinstance(runtime, LinkingRuntime):  # the runtime makes its own links (Mininet)
            runtime.add_link(self.ctx.node(a), a_if, self.ctx.node(b), b_if)
        else:
            self.rtnl[a].add_veth(a_if, b_if, self.fds[b])

    def _configure(self) -> None:
        for node in self.ctx.topology.nodes:
            rtnl = self.rtnl[node.name]
            rtnl.refresh()
            rtnl.up("lo")
            for seg in self.ctx.topology.segments:
                if seg.bridge == node.name:
                    rtnl.up(seg.name)
            for iface in node.interfaces:
                if iface.peer is not None:
                    rtnl.set_master(iface.name, iface.segment)
                if iface.address is not None:
                    rtnl.add_address(iface.name, iface.address)
                rtnl.up(iface.name)
            for route in node.routes:
                rtnl.add_route(route.dst, route.via)


