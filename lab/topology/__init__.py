"""Topologies as data: frozen typed models (:mod:`.model`), role schemas (:mod:`.roles`) and
loading with strict validation (:mod:`.load`).

    from lab import topology
    topo = topology.load()                    # topologies/sfb-cms-expressway.yaml
    topo = topology.load("path/to/file.yaml") # or a name under topologies/
    topo.node("cms").settings.turn.server     # -> HostPort(10.48.54.229:3478)
    topology.namespace("uclab", "cms")        # -> "uclab-cms"
"""

from lab.base.names import DEFAULT_LAB, namespace
from lab.topology.load import DEFAULT_TOPOLOGY, TOPOLOGY_DIR, from_document, load, resolve
from lab.topology.model import (
    Endpoint,
    Interface,
    Nat,
    Node,
    PinnedMapping,
    Route,
    Segment,
    Topology,
)

__all__ = [
    "DEFAULT_LAB",
    "DEFAULT_TOPOLOGY",
    "TOPOLOGY_DIR",
    "Endpoint",
    "Interface",
    "Nat",
    "Node",
    "PinnedMapping",
    "Route",
    "Segment",
    "Topology",
    "from_document",
    "load",
    "namespace",
    "resolve",
]
