"""nftables rulesets of the lab: the required flows (:mod:`.flows`) and rendering
(:mod:`.render`). Loading them is :mod:`lab.kernel`'s job."""

from lab.nft.flows import REQUIRED_FLOWS, RequiredFlow, flows_through
from lab.nft.render import firewall_policy, nat_ruleset

__all__ = ["REQUIRED_FLOWS", "RequiredFlow", "firewall_policy", "flows_through", "nat_ruleset"]
