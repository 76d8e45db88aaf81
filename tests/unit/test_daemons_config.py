"""Each daemon's configuration, computed from the topology (lab.daemons.config): the SIP plans of
the three proxies (sides, listeners, routes with every address behind them), the traversal
zone's dependency, the JSON file round trip and its strict reading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lab import topology
from lab.base.errors import InputError, LabError
from lab.base.state import RunDir
from lab.daemons.config import DAEMON_MODULES, config_for, daemon_nodes, read_config
from lab.daemons.sip_routes import SipRoute
from lab.topology.roles import CmsSettings, SfbClientSettings

RUN = RunDir("t1", Path("/nonexistent/run"))


def _plan(node: str):  # type: ignore[no-untyped-def]
    cfg = config_for(topology.load(), "t1", RUN, node)
    assert cfg.sip is not None
    return cfg.sip


def _routes(node: str) -> dict[str, SipRoute]:
    return {r.match[0]: r for r in _plan(node).routes}


def test_daemon_nodes_are_the_five_roles_in_topology_order() -> None:
    names = [n.name for n in daemon_nodes(topology.load())]
    assert names == ["sfb-client", "sfb-edge", "expressway-e", "expressway-c", "cms"]
    assert set(DAEMON_MODULES) == {n for n in names}


def test_edge_plan_two_sides_the_clients_domain_and_the_route_out() -> None:
    plan = _plan("sfb-edge")
    assert [(s.name, s.host, s.port, s.alias) for s in plan.sides] == [
        ("internal", "10.149.4.10", 5061, False), ("external", "192.168.1.252", 5061, False)]
    routes = _routes("sfb-edge")
    # requests for sfb.lab (the Edge's own domain) go down its registered clients' connections
    assert routes["sfb.lab"] == SipRoute(("sfb.lab", "192.168.251.128"), "internal",
                                         zone="sfb.lab")
    assert plan.registrar == {"sfb.lab": "sfb.lab"}
    # vc.lab through Expressway-E, and every address behind it (its Record-Route entries)
    out = routes["vc.lab"]
    assert (out.side, out.next_hop) == ("external", "192.168.1.229:5061")
    assert set(out.match) == {"vc.lab", "192.168.1.229", "10.48.54.229", "10.48.54.227",
                              "10.48.54.230"}
    assert plan.local_host is None and plan.source_ports is None


def test_expressway_e_plan_traversal_zone_and_new_connections_from_25000() -> None:
    plan = _plan("expressway-e")
    assert [(x.host, x.port, x.side, x.zone) for x in plan.listeners] == [
        ("192.168.1.229", 5061, "external", None), ("10.48.54.229", 7001, "internal",
                                                    "traversal")]
    routes = _routes("expressway-e")
    assert routes["vc.lab"] == SipRoute(("vc.lab", "10.48.54.227", "10.48.54.230"), "internal",
                                        zone="traversal")
    back = routes["sfb.lab"]
    assert (back.side, back.next_hop) == ("external", "192.168.1.252:5061")
    assert set(back.match) == {"sfb.lab", "192.168.1.252", "10.149.4.10", "192.168.251.128"}
    # ports.md F2: connections it opens leave 192.168.1.229 from 25000-29999
    assert (plan.local_host, plan.source_ports) == ("192.168.1.229", "25000-29999")


def test_expressway_c_plan_keeps_the_zone_and_waits_for_its_server() -> None:
    cfg = config_for(topology.load(), "t1", RUN, "expressway-c")
    plan = cfg.sip
    assert plan is not None
    assert plan.traversal_server == "10.48.54.229:7001"
    assert [(s.host, s.port, s.alias) for s in plan.sides] == [("10.48.54.227", 5061, True)]
    routes = _routes("expressway-c")
    assert routes["vc.lab"].next_hop == "10.48.54.230:5061"
    # "*" became every other domain of the topology, through the traversal zone
    star = routes["sfb.lab"]
    assert star.next_hop == "10.48.54.229:7001"
    assert {"10.48.54.229", "192.168.1.229", "192.168.1.252", "192.168.251.128"} <= set(
        star.match)
    assert cfg.after == (str(RUN.control("expressway-e")),)


def test_user_agents_get_settings_and_addresses_no_plan() -> None:
    topo = topology.load()
    client = config_for(topo, "t1", RUN, "sfb-client")
    cms = config_for(topo, "t1", RUN, "cms")
    assert client.sip is None and cms.sip is None
    assert client.settings_as(SfbClientSettings).turn.control_port == 17676
    assert cms.addresses == {"eth0": "10.48.54.230"} and cms.address == "10.48.54.230"
    assert cms.control == str(RUN.control("cms")) and cms.module == "nodes.cms"
    with pytest.raises(LabError, match="not SfbClientSettings"):
        cms.settings_as(SfbClientSettings)


def test_nodes_without_a_daemon_are_refused() -> None:
    with pytest.raises(LabError, match="runs no daemon"):
        config_for(topology.load(), "t1", RUN, "fw-outside")


def test_json_round_trip_every_daemon(tmp_path: Path) -> None:
    topo = topology.load()
    for node in daemon_nodes(topo):
        cfg = config_for(topo, "t1", RUN, node.name, time_scale=0.5)
        path = tmp_path / f"{node.name}.json"
        path.write_text(cfg.to_json())
        assert read_config(path) == cfg
    data = json.loads((tmp_path / "cms.json").read_text())
    assert data["settings"]["turn"]["server"] == "10.48.54.229:3478"
    assert data["time_scale"] == 0.5


def test_scenario_overrides_reach_the_daemon(tmp_path: Path) -> None:
    topo = topology.load()
    cms = topo.node("cms").settings
    assert isinstance(cms, CmsSettings)
    changed = topo.with_settings("cms", type(cms)(**{**cms.__dict__,
                                                     "attendees_may_share": False}))
    path = tmp_path / "cms.json"
    path.write_text(config_for(changed, "t1", RUN, "cms").to_json())
    assert read_config(path).settings_as(CmsSettings).attendees_may_share is False


def test_bad_config_names_file_line_and_fix(tmp_path: Path) -> None:
    cfg = config_for(topology.load(), "t1", RUN, "cms")
    data = json.loads(cfg.to_json())
    data["settings"]["turn"]["contol_port"] = 1
    path = tmp_path / "cms.json"
    path.write_text(json.dumps(data, indent=1))
    with pytest.raises(InputError) as err:
        read_config(path)
    assert err.value.path == path and err.value.line is not None
    assert "unknown key" in str(err.value) and "control_port" in (err.value.fix or "")
    data = json.loads(cfg.to_json())
    data["role"] = "firewall"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match="not a daemon role"):
        read_config(path)
