"""``python -m lab.nft policy fw-outside`` prints a rendered baseline policy;
``python -m lab.nft nat [TOPOLOGY]`` prints the NAT rulesets of a topology."""

from __future__ import annotations

import sys

from lab import topology
from lab.nft.render import firewall_policy, nat_ruleset


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "policy":
        sys.stdout.write(firewall_policy(argv[1]))
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
