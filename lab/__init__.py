"""uclab: a network-namespace lab replaying Cisco tech note 212580 with real protocol stacks."""

__version__ = "0.1.0"
