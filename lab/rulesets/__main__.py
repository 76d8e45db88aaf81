"""``python -m lab.rulesets policy fw-outside [TOPOLOGY]`` prints the baseline policy of a firewall
(the required flows of ports.md that cross it, at the topology's addresses);
``python -m lab.rulesets nat [TOPOLOGY]`` prints the NAT rulesets of a topology."""

from __future__ import annotations

import sys

from lab import topology
from lab.rulesets.flows import flows_through, required_flows
from lab.rulesets.render import firewall_policy, nat_ruleset


def main(argv: list[str]) -> int:
    if argv and argv[0] == "policy" and len(argv) in (2, 3):
        topo = topology.load(argv[2] if len(argv) == 3 else None)
        sys.stdout.write(firewall_policy(argv[1], flows_through(argv[1], required_flows(topo))))
        return 0
    if argv and argv[0] == "nat" and len(argv) <= 2:
        topo = topology.load(argv[1] if len(argv) == 2 else None)
        for node in topo.nodes:
            if node.nat is not None:
                sys.stdout.write(nat_ruleset(node))
        return 0
    sys.stderr.write(__doc__ or "")
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
