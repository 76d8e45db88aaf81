"""Rich rendering of the lab commands' results (the CLI is the only place that prints)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from lab.base.names import DEFAULT_LAB
from lab.lifecycle.status import LabStatus, NodeStatus
from lab.topology import Node, Topology

console = Console(highlight=False)


def _addresses(node: Node) -> str:
    return "\n".join(f"{i.name} {i.address}" for i in node.interfaces if i.address is not None)


def print_up(topo: Topology, lab: str, seconds: float, timings: dict[str, float]) -> None:
    opt = "" if lab == DEFAULT_LAB else f" --name {lab}"
    table = Table(title=f"lab {lab} ({topo.name})", title_justify="left")
    for col in ("node", "namespace", "role", "addresses"):
        table.add_column(col)
    for n in topo.nodes:
        addrs = _addresses(n) or "ports: " + ", ".join(i.name for i in n.interfaces)
        table.add_row(n.name, n.ns(lab), n.role, addrs)
    console.print(table)
    steps = ", ".join(f"{k} {v:.2f} s" for k, v in timings.items())
    console.print(f"lab [bold]{lab}[/] is up in {seconds:.2f} s ({steps}).")
    console.print(f"Step into a node: [bold]uclab exec{opt} cms[/] (or [bold]ip netns exec "
                  f"{lab}-cms bash[/]); see everything: [bold]uclab status{opt}[/]")


def _node_row(n: NodeStatus) -> list[str]:
    if not n.present:
        return [n.name, n.role, "[red]namespace missing[/]", "", ""]
    ifaces = []
    for i in n.interfaces:
        if i.name == "lo":
            continue
        what = f"> {i.master}" if i.master else " ".join(str(a) for a in i.addresses)
        ifaces.append(f"{i.name} {what}" + ("" if i.up else " [red]down[/]"))
    routes = [f"{'default' if r.dst.prefixlen == 0 else r.dst} via {r.via}"
              for r in n.routes if r.via is not None]
    procs = [f"{p.pid} {p.label or ' '.join(p.argv)[:30]}" for p in n.processes]
    return [n.name, n.role, "\n".join(ifaces), "\n".join(routes), "\n".join(procs) or "-"]


def print_status(st: LabStatus) -> None:
    colour = "green" if st.phase == "up" else "red"
    console.print(f"lab [bold]{st.lab}[/]: [{colour}]{st.phase}[/]  topology {st.topology}")
    for node, policy in st.policies.items():
        console.print(f"  policy of {node}: {policy}")
    table = Table(show_lines=True, caption=f"namespace of NODE: {st.lab}-NODE",
                  caption_justify="left")
    for col in ("node", "role", "interfaces", "routes", "processes"):
        table.add_column(col)
    for n in st.nodes:
        table.add_row(*_node_row(n))
    console.print(table)
    print_daemons(st)
    for n in st.nodes:
        if not n.rules:
            continue
        rules = Table(title=f"nftables counters of {n.name}", title_justify="left")
        for col in ("chain", "rule", "packets", "bytes"):
            rules.add_column(col, justify="right" if col in ("packets", "bytes") else "left")
        for r in n.rules:
            text = r.comment or r.rule
            style = "bold" if r.packets else ""
            rules.add_row(f"{r.table} {r.chain}", text, str(r.packets), str(r.bytes),
                          style=style)
        console.print(rules)


def print_daemons(st: LabStatus) -> None:
    """The node daemons; a dead one with the last lines of its log."""
    if not st.daemons:
        return
    table = Table(title="node daemons", title_justify="left")
    for col in ("node", "pid", "state", "log"):
        table.add_column(col)
    for d in st.daemons:
        state = ("[green]ready[/]" if d.ready else "[yellow]running, not answering[/]"
                 if d.alive else "[bold red]DEAD[/]")
        table.add_row(d.node, str(d.pid), state, d.log)
    console.print(table)
    for d in st.dead_daemons:
        console.print(f"[bold red]the {d.node} daemon (pid {d.pid}) is dead[/]; last lines of "
                      f"{d.log}:")
        for line in d.last_lines or ["(empty)"]:
            console.print(f"    {line}", markup=False, highlight=False)


def print_tree(topo: Topology) -> None:
    tree = Tree(f"[bold]{topo.name}[/]  {topo.description}")
    for node in topo.nodes:
        branch = tree.add(f"[bold]{node.name}[/] ({node.role})")
        for i in node.interfaces:
            seg = topo.segment(i.segment)
            if i.address is not None:
                other = [str(e) for e in seg.endpoints if e.node != node.name]
                via = f"bridge {seg.bridge}" if seg.bridge else "veth"
                branch.add(f"{i.name} {i.address}  [dim]{seg.name} {seg.subnet}, {via} to "
                           f"{', '.join(other)}[/]")
            else:
                branch.add(f"port {i.name}  [dim]bridge {seg.name} {seg.subnet}[/]")
        for r in node.routes:
            branch.add(f"route {r}")
        if node.nat is not None:
            branch.add(f"SNAT {node.nat.source} -> {node.nat.to} out {node.nat.out}")
            for p in node.nat.pinned:
                branch.add(f"pinned {p.proto} {p.inside} -> {p.outside}")
        if node.policy is not None:
            branch.add(f"policy {node.policy.name}")
    console.print(tree)
