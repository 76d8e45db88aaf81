"""nftables rulesets of the lab: the required flows (:mod:`.flows`) and rendering
(:mod:`.render`). Loading them is :mod:`lab.kernel`'s job."""

from lab.rulesets.flows import RequiredFlow, default_flows, flows_through, required_flows
from lab.rulesets.render import firewall_policy, nat_ruleset

__all__ = ["RequiredFlow", "default_flows", "firewall_policy", "flows_through", "nat_ruleset",
           "required_flows"]
