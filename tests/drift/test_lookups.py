"""Inputs the offline plan can only stand in for, against a stack the real engine deployed.

The plan runs under the SDK's mock engine: a lookup (``get_network``, ``get_subnet``: the management
network of the controller proxies and the monitoring pair, the router's external network) is answered
with a value of the mock's own, and instances boot a stand-in image id unless the stack's verification
record is named. The real engine writes what the lookup returned, and the verified image id, into the
checkpoint. terraform-provider-openstack v3.4.0 declares a port's ``network_id`` ForceNew
(``openstack/resource_openstack_networking_port_v2.go``:57-61), so a drift that compared the stand-in
literally would report every proxy and monitoring node, through its port, as a pending replacement.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.drift.fakes import Site, site
from tests.drift.test_drift import run
from webex_cloud.audit.expected import Expected
from webex_cloud.config.models import Service
from webex_cloud.drift.classes import Side
from webex_cloud.facts.stand_ins import lookup_of, lookup_stand_in, stand_ins_in
from webex_cloud.plan.format import PORT, ROUTER, Plan
from webex_cloud.preview.offline import diff_snapshots
from webex_cloud.preview.plans import snapshot_from_plan, snapshot_of
from webex_cloud.preview.state import decode_checkpoint


@pytest.fixture
def deployed(plan: Plan, expected: Expected) -> Site:
    """dc1 as the real engine deploys it (tests/drift/fakes.py): the lookups' answers and the verified
    image id in the checkpoint, the networks and the subnet listed by Neutron under their names."""
    return site(plan, expected)


def _network(cloud: Site, name: str) -> dict[str, Any]:
    return next(n for n in cloud.networks if n["name"] == name)


def test_the_checkpoint_holds_what_the_engine_resolved_where_the_plan_has_stand_ins(
    deployed: Site, plan: Plan
) -> None:
    """The premise: the plan's stand-ins are nowhere in the checkpoint; the real answers are."""
    planned = stand_ins_in([r.inputs for r in plan.resources])
    assert {lookup_of(v).token for v in planned if lookup_of(v)} == {  # type: ignore[union-attr]
        "openstack:networking/getNetwork:getNetwork",
        "openstack:networking/getSubnet:getSubnet",
    }
    assert not stand_ins_in([r["inputs"] for r in deployed.resources])
    ports = [r for r in deployed.resources if r["type"] == PORT and "controllers" in r["urn"]]
    assert {p["inputs"]["networkId"] for p in ports} == {_network(deployed, "mgmt-dc1")["id"]}
    router = next(r for r in deployed.resources if r["type"] == ROUTER)
    assert router["inputs"]["externalNetworkId"] == _network(deployed, "public-dc1")["id"]


def test_a_clean_deployment_has_no_pending_change_from_a_lookup_or_an_image_stand_in(
    deployed: Site, plan: Plan, catalog: list[tuple[str, Service]]
) -> None:
    report = run(deployed, plan, catalog)
    pending = [(d.name, d.action, d.field) for d in report.drift if d.side is Side.PLAN]
    assert pending == []
    assert [d.kind for d in report.drift] == []


def test_a_lookup_that_now_finds_another_network_is_a_pending_replacement(
    deployed: Site, plan: Plan, catalog: list[tuple[str, Service]]
) -> None:
    """The management network re-created under its name: the next `up` looks it up, gets the new id,
    and replaces every port on it (network_id ForceNew) and the servers those ports are plugged in."""
    network = _network(deployed, "mgmt-dc1")
    recorded, network["id"] = network["id"], "4f9d1c2e-0000-4000-8000-00000000b001"
    deployed.subnets[0]["network_id"] = network["id"]
    report = run(deployed, plan, catalog)
    replaced = {d.name for d in report.drift if d.side is Side.PLAN and d.action == "replace"}
    assert "dc1-controllers-proxy-0-port" in replaced
    assert "dc1-monitoring-1-port" in replaced
    assert "dc1-controllers-proxy-0" in replaced  # its port is ForceNew on the instance
    port = next(d for d in report.drift if d.name == "dc1-controllers-vip")
    assert port.recorded is not None and port.recorded["networkId"] == recorded
    assert port.planned is not None and port.planned["networkId"] == network["id"]


@pytest.mark.parametrize(("networks", "said"), [(0, "no result"), (2, "2 results")])
def test_a_lookup_the_cloud_cannot_answer_is_said_not_guessed(
    deployed: Site, plan: Plan, catalog: list[tuple[str, Service]], networks: int, said: str
) -> None:
    """The provider's data source fails on no result and on more than one: so does the next `up`."""
    network = _network(deployed, "mgmt-dc1")
    deployed.networks = [n for n in deployed.networks if n is not network]
    deployed.networks += [{**network, "id": f"{network['id'][:-1]}{n}"} for n in range(networks)]
    report = run(deployed, plan, catalog)
    assert [d for d in report.drift if d.side is Side.PLAN] == []
    assert any(
        "getNetwork(name=mgmt-dc1)" in line and said in line and "would fail" in line
        for line in report.could_not_check
    ), report.could_not_check
    assert any("getSubnet(name=mgmt-dc1-v4)" in line for line in report.could_not_check)


def test_the_preview_against_the_checkpoint_shows_no_change_from_a_stand_in(
    deployed: Site, plan: Plan
) -> None:
    """pr-check's preview against the deployed state (no cloud): the same diff, with the state as the
    only source of truth (a lookup is not compared; an image stand-in is the image the state records
    under that name)."""
    raw = json.dumps(deployed.checkpoint()).encode()
    state = decode_checkpoint("webex-cloud", "dc1", "dc1.json", raw)
    changes = diff_snapshots(
        state.snapshot(), snapshot_of(plan, source="dc1.json"), old_only_keys_count=False
    )
    assert [(c.name, c.action.value) for c in changes.changes] == []


def test_a_new_image_is_still_a_change_against_the_checkpoint(deployed: Site, plan: Plan) -> None:
    """A stand-in is not a blind spot: an image the state records under another name is a rebuild."""
    raw = json.dumps(deployed.checkpoint()).encode()
    state = decode_checkpoint("webex-cloud", "dc1", "dc1.json", raw)
    proxy = next(r for r in state.resources.values() if r.name == "dc1-controllers-proxy-0")
    older = "0b8c1f7e-7e0c-4c53-9d1f-6f1b1b1b0003"
    state.outputs[proxy.urn] |= {"imageName": "webex-base-2026.10", "imageId": older}
    proxy.inputs["imageId"] = older
    changes = diff_snapshots(
        state.snapshot(), snapshot_of(plan, source="dc1.json"), old_only_keys_count=False
    )
    assert [(c.name, [p.path for p in c.properties]) for c in changes.changes] == [
        ("dc1-controllers-proxy-0", ["imageId"])
    ]


def test_between_two_plans_a_changed_lookup_query_is_a_change(plan: Plan, plan_file: Path) -> None:
    """pr-check's base-vs-branch diff: both sides stand-ins, compared as they are. A branch that moves
    the proxies and the monitoring pair to another management network replaces their ports."""
    text = plan_file.read_text()
    old = lookup_stand_in("openstack:networking/getNetwork:getNetwork", {"name": "mgmt-dc1"})
    new = lookup_stand_in("openstack:networking/getNetwork:getNetwork", {"name": "mgmt-dc1-b"})
    assert json.dumps(old)[1:-1] in text
    branch = snapshot_from_plan(
        json.loads(text.replace(json.dumps(old)[1:-1], json.dumps(new)[1:-1])), source="pr"
    )
    changes = diff_snapshots(snapshot_of(plan, source="base"), branch)
    replaced = {c.name for c in changes.changes if c.action.value == "replace"}
    assert {"dc1-controllers-vip", "dc1-controllers-proxy-1-port", "dc1-monitoring-0-port"} <= replaced
