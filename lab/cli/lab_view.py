"""Rich rendering of the lab commands' results (the CLI is the only place that prints)."""

from __future__ import annotations

from rich.console import Console
from rich.tree import Tree

from lab.base.names import DEFAULT_LAB
from lab.cli.columns import table
from lab.lifecycle.status import LabStatus, NodeStatus
from lab.topology import Node, Topology

console = Console(highlight=False)


def _addresses(node: Node) -> str:
    return "\n".join(f"{i.name} {i.address}" for i in node.interfaces if i.address is not None)


def print_up(topo: Topology, lab: str, seconds: float, timings: dict[str, float]) -> None:
    opt = "" if lab == DEFAULT_LAB else f" --name {lab}"
    rows = [[n.name, n.ns(lab), n.role,
             _addresses(n) or "ports: " + ", ".join(i.name for i in n.interfaces)]
            for n in topo.nodes]
    console.print(table(("node", "namespace", "role", "addresses"), rows,
                        title=f"lab {lab} ({topo.name})", title_justify="left"), crop=False)
    steps = ", ".join(f"{k} {v:.2f} s" for k, v in timings.items())
    console.print(f"lab [bold]{lab}[/] is up in {seconds:.2f} s ({steps}).")
    console.print(f"Step into a node: [bold]uclab exec{opt} cms[/] (or [bold]ip netns exec "
                  f"{lab}-cms bash[/]); see everything: [bold]uclab status{opt}[/]")


def _node_row(n: NodeStatus) -> list[str]:
    node = n.name if n.role == n.name else f"{n.name}\n{n.role}"
    if not n.present:
        return [node, "[red]namespace missing[/]", "", ""]
    ifaces = []
    for i in n.interfaces:
        if i.name == "lo":
            continue
        what = f"> {i.master}" if i.master else " ".join(str(a) for a in i.addresses)
        ifaces.append(f"{i.name} {what}" + ("" if i.up else " [red]down[/]"))
    routes = [f"{'default' if r.dst.prefixlen == 0 else r.dst} via {r.via}"
              for r in n.routes if r.via is not None]
    procs = [f"{p.pid} {p.label or ' '.join(p.argv)}" for p in n.processes]
    return [node, "\n".join(ifaces), "\n".join(routes), "\n".join(procs) or "-"]


def print_status(st: LabStatus) -> None:
    colour = "green" if st.phase == "up" else "red"
    console.print(f"lab [bold]{st.lab}[/]: [{colour}]{st.phase}[/]  topology {st.topology}")
    if st.orphan:
        console.print(f"  [bold red]{st.orphan}[/]: `uclab clean --name {st.lab}` removes it")
    for node, policy in st.policies.items():
        console.print(f"  policy of {node}: {policy}")
    console.print(table(("node (role)", "interfaces", "routes", "processes"),
                        [_node_row(n) for n in st.nodes], show_lines=True, compact=True,
                        caption=f"namespace of NODE: {st.lab}-NODE", caption_justify="left"),
                  crop=False)
    print_daemons(st)
    for n in st.nodes:
        if not n.rules:
            continue
        rows = [[f"{r.table} {r.chain}", r.comment or r.rule, str(r.packets), str(r.bytes)]
                for r in n.rules]
        rules = table(("chain", "rule", "packets", "bytes"), rows, right=("packets", "bytes"),
                      title=f"nftables counters of {n.name}", title_justify="left")
        for i, r in enumerate(n.rules):
            if r.packets:
                rules.rows[i].style = "bold"
        console.print(rules, crop=False)


def print_daemons(st: LabStatus) -> None:
    """The node daemons; a dead one with the last lines of its log."""
    if not st.daemons:
        return
    rows = [[d.node, "-" if d.pid is None else str(d.pid), "[green]ready[/]" if d.ready else
             "[yellow]running, not answering[/]" if d.alive else "[bold red]DEAD[/]", d.log]
            for d in st.daemons]
    console.print(table(("node", "pid", "state", "log"), rows, title="node daemons",
                        title_justify="left"), crop=False)
    for d in st.dead_daemons:
        pid = "never restarted" if d.pid is None else f"pid {d.pid}"
        console.print(f"[bold red]the {d.node} daemon ({pid}) is dead[/]; last lines of "
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
