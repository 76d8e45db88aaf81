"""Rendering of the lab's nftables rulesets as text (golden-tested, loaded with ``nft -f``).

* :func:`nat_ruleset`: the NAT node's ruleset, from the topology's ``nat:`` block: SNAT with the
  pinned mappings first, and a forward filter that lets the inside out and only replies in.
* :func:`firewall_policy`: a bridging firewall's baseline policy from the required flows
  (:mod:`lab.rulesets.flows`). Bridged IPv4 passes the ``inet`` hooks through br_netfilter
  (``net.bridge.bridge-nf-call-iptables=1`` in the firewall's namespace), where ``ct state``
  works; the ``bridge`` family's own ``ct`` needs nf_conntrack_bridge, which this kernel lacks.

Every rule carries a counter and a comment, so ``uclab status`` can show what each rule saw.
A policy file is a complete nftables file; the lab may later load a table of its own beside
it (tracing), so policies only ever delete and redefine their own tables.
"""

from __future__ import annotations

from lab.rulesets.flows import RequiredFlow, flows_through
from lab.topology.model import Node


def _q(text: str) -> str:
    return '"' + text.replace('"', "'") + '"'


def nat_ruleset(node: Node) -> str:
    """The ruleset of a node with a ``nat:`` block (``sfb-nat``)."""
    nat = node.nat
    if nat is None:
        raise ValueError(f"{node.name} has no nat block")
    inside = [i.name for i in node.interfaces
              if i.address is not None and i.address.network.overlaps(nat.source)]
    lines = [
        f"# {node.name}: rendered by lab/rulesets/render.py from the topology's nat: block",
        "table ip nat",
        "delete table ip nat",
        "table ip nat {",
        "\tchain postrouting {",
        "\t\ttype nat hook postrouting priority srcnat; policy accept;",
    ]
    for pin in nat.pinned:
        lines.append(
            f"\t\toifname {_q(nat.out)} ip saddr {pin.inside.host} {pin.proto} sport "
            f"{pin.inside.port} counter snat to {pin.outside} "
            f"comment {_q(f'pinned {pin.proto} {pin.inside} -> {pin.outside}')}")
    lines += [
        f"\t\toifname {_q(nat.out)} ip saddr {nat.source} counter snat to {nat.to} "
        f"comment {_q(f'{nat.source} -> {nat.to}')}",
        "\t}",
        "}",
        "table ip filter",
        "delete table ip filter",
        "table ip filter {",
        "\tchain forward {",
        "\t\ttype filter hook forward priority filter; policy drop;",
        "\t\tct state established,related counter accept comment \"replies\"",
    ]
    lines += [f"\t\tiifname {_q(name)} oifname {_q(nat.out)} ip saddr {nat.source} "
              f"counter accept comment {_q('inside to outside')}" for name in inside]
    lines += [
        "\t\tcounter drop comment \"nothing enters unasked\"",
        "\t}",
        "}",
    ]
    return "\n".join(lines) + "\n"


def _flow_rule(flow: RequiredFlow) -> str:
    match = f"ip saddr {flow.src} ip daddr {flow.dst}"
    if flow.sport is not None:
        match += f" {flow.proto} sport {flow.sport}"
    match += f" {flow.proto} dport {flow.dport}"
    return f"\t\t{match} ct state new counter accept comment {_q(f'{flow.id} {flow.why}')}"


def firewall_policy(firewall: str, flows: tuple[RequiredFlow, ...] | None = None) -> str:
    """The baseline policy of ``firewall``: exactly ``flows`` (default: the required flows
    that cross it in the default topology), replies, drop the rest."""
    allowed = flows_through(firewall) if flows is None else flows
    ids = ", ".join(f.id for f in allowed) or "none"
    lines = [
        f"# {firewall}: uclab's baseline policy. Allows exactly the required flows of",
        f"# ports.md that cross {firewall} ({ids}) and the replies of established",
        "# connections; drops and counts everything else.",
        "#",
        f"# Rendered by `python -m lab.rulesets policy {firewall}` (tests check it is current).",
        f"# Loaded as it is into the namespace <lab>-{firewall}, where bridged IPv4 passes",
        "# the inet hooks (br_netfilter). Replace it with",
        f"#   uclab up --policy {firewall}=FILE",
        "# where FILE is any complete nftables file.",
        "",
        "table inet filter",
        "delete table inet filter",
        "",
        "table inet filter {",
        "\tchain forward {",
        "\t\ttype filter hook forward priority filter; policy drop;",
        "\t\tct state established,related counter accept comment \"replies of allowed "
        "connections\"",
        "\t\tct state invalid counter drop comment \"invalid\"",
    ]
    lines += [_flow_rule(f) for f in allowed]
    lines += [
        "\t\tcounter drop comment \"everything else\"",
        "\t}",
        "}",
    ]
    return "\n".join(lines) + "\n"
