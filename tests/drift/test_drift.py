"""Drift, three ways, on a deployed dc1 (tests/drift/fakes.py): one out-of-band change per class, each
found, classified and given what the next `up` does to it; a clean deployment reports nothing."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.audit.fakes import PROJECT, host_id
from tests.drift.fakes import IMAGE_ID, Site, site
from webex_cloud.audit.expected import Expected
from webex_cloud.cloud import views as observed
from webex_cloud.config.models import Service
from webex_cloud.drift.acks import Acks
from webex_cloud.drift.classes import CLASSES, MAINTENANCE_PREFIX, TABLE, Risk, Side, Up
from webex_cloud.drift.findings import Drift
from webex_cloud.drift.report import DriftReport, three_way, to_json, to_text
from webex_cloud.facts import invariants as rules
from webex_cloud.plan.format import (
    INSTANCE,
    PORT,
    SEC_GROUP,
    SEC_GROUP_RULE,
    SERVER_GROUP,
    VOLUME,
    VOLUME_ATTACH,
    Plan,
)
from webex_cloud.preview.state import decode_checkpoint

TODAY = dt.date(2026, 12, 6)
NO_ACKS = Acks("acks.yaml", ())


@pytest.fixture
def dc1(plan: Plan, expected: Expected) -> Site:
    return site(plan, expected)


def run(cloud: Site, plan: Plan, catalog: list[tuple[str, Service]], acks: Acks = NO_ACKS) -> DriftReport:
    """Drift as the command computes it, from the checkpoint's bytes and the listings."""
    raw = json.dumps(cloud.checkpoint()).encode()
    deployed = decode_checkpoint("webex-cloud", "dc1", "dc1.json", raw)
    return three_way(plan, "dc1.json", deployed, cloud.inventory(), catalog, acks, TODAY, cloud.read_actions)


def kinds(report: DriftReport) -> list[tuple[str, str, str]]:
    return sorted((d.kind, d.resource, d.field) for d in report.drift)


def only(report: DriftReport) -> Drift:
    assert len(report.drift) == 1, [(d.kind, d.message) for d in report.drift]
    return report.drift[0]


def test_a_clean_deployment_reports_nothing_twice(
    dc1: Site, plan: Plan, catalog: list[tuple[str, Service]]
) -> None:
    for _ in range(2):
        report = run(dc1, plan, catalog)
        assert (report.drift, report.blocking, report.could_not_check, report.notes) == ([], [], [], [])
    assert len(dc1.servers) == len([r for r in dc1.resources if r["type"] == INSTANCE]) > 10


def test_the_checkpoint_keeps_the_outputs_refresh_compares(dc1: Site) -> None:
    """pulumi/pulumi sdk/go/common/apitype/core.go ResourceV3: ``outputs`` beside ``inputs``."""
    deployed = decode_checkpoint("webex-cloud", "dc1", "dc1.json", json.dumps(dc1.checkpoint()).encode())
    server = dc1.resource(INSTANCE)
    assert deployed.outputs[server["urn"]]["imageId"] == IMAGE_ID
    assert deployed.resources[server["urn"]].id == server["id"]


def _server(cloud: Site) -> dict[str, Any]:
    return cloud.live("servers", cloud.resource(INSTANCE, "pod-0-app-0")["id"])


def _volume(cloud: Site) -> dict[str, Any]:
    attach = cloud.resource(VOLUME_ATTACH)
    return cloud.live("volumes", attach["outputs"]["volumeId"])


def _port(cloud: Site) -> dict[str, Any]:
    return cloud.live("ports", cloud.resource(PORT)["id"])


Change = Callable[[Site], None]
CASES: dict[str, tuple[Change, str, str, Up, Risk]] = {
    "deleted out of band": (
        lambda c: c.servers.remove(_server(c)),
        "deleted",
        "",
        Up.RECREATE,
        Risk.BLOCK,
    ),
    "stopped": (
        lambda c: _server(c).update(status="SHUTOFF"),
        "stopped",
        "powerState",
        Up.REVERT,
        Risk.BLOCK,
    ),
    "shelved": (
        lambda c: _server(c).update(status="SHELVED_OFFLOADED"),
        "shelved",
        "powerState",
        Up.REVERT,
        Risk.BLOCK,
    ),
    "in error": (
        lambda c: _server(c).update(status="ERROR", fault={"message": "No valid host"}),
        "error",
        "status",
        Up.NOTHING,
        Risk.WARN,
    ),
    "rebuilt": (
        lambda c: _server(c).update(image={"id": str(uuid.uuid4())}),
        "rebuilt",
        "imageId",
        Up.REVERT,
        Risk.BLOCK,
    ),
    "resized": (
        lambda c: _server(c).update(flavor={"id": "m1.large-id"}),
        "resized",
        "flavorId",
        Up.REVERT,
        Risk.BLOCK,
    ),
    "resized (microversion 2.47 shape)": (
        lambda c: _server(c).update(flavor={"original_name": "m1.large", "vcpus": 4}),
        "resized",
        "flavorName",
        Up.REVERT,
        Risk.BLOCK,
    ),
    "volume retyped": (
        lambda c: _volume(c).update(volume_type="capacity"),
        "retyped",
        "volumeType",
        Up.REVERT,
        Risk.BLOCK,
    ),
    "volume detached": (
        lambda c: _volume(c).update(attachments=[], status="available"),
        "detached",
        "instanceId",
        Up.RECREATE,
        Risk.BLOCK,
    ),
    "rule removed": (
        lambda c: c.security_group_rules.remove(
            c.live("security_group_rules", c.resource(SEC_GROUP_RULE)["id"])
        ),
        "rule-removed",
        "",
        Up.RECREATE,
        Risk.BLOCK,
    ),
    "port's fixed IP changed": (
        lambda c: _port(c)["fixed_ips"][0].update(ip_address="10.99.99.99"),
        "port-changed",
        "fixedIps",
        Up.REVERT,
        Risk.BLOCK,
    ),
    "port's security groups changed": (
        lambda c: _port(c).update(security_groups=[str(uuid.uuid4())]),
        "port-changed",
        "securityGroupIds",
        Up.REVERT,
        Risk.BLOCK,
    ),
    "metadata edited": (
        lambda c: _server(c)["metadata"].update(owner="someone-else"),
        "metadata",
        "metadata.owner",
        Up.REVERT,
        Risk.WARN,
    ),
    "metadata key added": (
        lambda c: _server(c)["metadata"].update(note="ticket 12"),
        "metadata",
        "metadata.note",
        Up.NOTHING,
        Risk.WARN,
    ),
    "renamed": (lambda c: _server(c).update(name="renamed-by-hand"), "renamed", "name", Up.REVERT, Risk.WARN),
    "server group renamed (ForceNew)": (
        lambda c: c.live("server_groups", c.resource(SERVER_GROUP)["id"]).update(name="x"),
        "renamed",
        "name",
        Up.REPLACE,
        Risk.BLOCK,
    ),
    "volume extended by hand": (
        lambda c: _volume(c).update(size=_volume(c)["size"] + 10),
        "changed",
        "size",
        Up.REVERT,
        Risk.BLOCK,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_out_of_band_change_is_found_and_classified(
    case: str, dc1: Site, plan: Plan, catalog: list[tuple[str, Service]]
) -> None:
    change, kind, path, up, risk = CASES[case]
    change(dc1)
    found = only(run(dc1, plan, catalog))
    assert (found.kind, found.field, found.up, found.risk, found.side) == (kind, path, up, risk, Side.LIVE)
    assert found.blocking is (risk is Risk.BLOCK)
    assert found.cloud_id and found.cloud_id in found.message


def test_a_rule_added_by_hand_to_a_managed_group_is_kept_by_up(
    dc1: Site, plan: Plan, catalog: list[tuple[str, Service]]
) -> None:
    group = dc1.resource(SEC_GROUP)
    rule = {
        "id": str(uuid.uuid4()),
        "security_group_id": group["id"],
        "direction": "ingress",
        "ethertype": "IPv4",
        "protocol": "tcp",
        "port_range_min": 22,
        "port_range_max": 22,
        "remote_ip_prefix": "192.0.2.0/24",
        "remote_group_id": None,
        "project_id": PROJECT,
    }
    dc1.security_group_rules.append(rule)
    found = only(run(dc1, plan, catalog))
    assert (found.kind, found.up, found.risk) == ("rule-added", Up.NOTHING, Risk.WARN)
    assert "ingress IPv4 tcp 22-22 from 192.0.2.0/24" in found.message


def test_unmanaged_ports_and_group_members_are_named(
    dc1: Site, plan: Plan, catalog: list[tuple[str, Service]]
) -> None:
    network = dc1.networks[0]
    stranger = str(uuid.uuid4())
    dc1.ports.append(
        {
            "id": "p-1",
            "network_id": network["id"],
            "device_id": stranger,
            "device_owner": "compute:az",
            "project_id": PROJECT,
        }
    )
    dc1.ports.append(  # Neutron's own ports (DHCP, router) are not drift
        {
            "id": "p-2",
            "network_id": network["id"],
            "device_id": "x",
            "device_owner": "network:dhcp",
            "project_id": PROJECT,
        }
    )
    dc1.live("server_groups", dc1.resource(SERVER_GROUP)["id"])["members"].append(stranger)
    report = run(dc1, plan, catalog)
    assert kinds(report) == [("unmanaged", "port/p-1", ""), ("unmanaged", f"server/{stranger}", "members")]
    assert not report.blocking


def test_a_server_moved_onto_its_sibling_pods_host_breaks_the_placement_rules(
    dc1: Site, expected: Expected, plan: Plan, catalog: list[tuple[str, Service]]
) -> None:
    moved = dc1.live("servers", dc1.resource(INSTANCE, "messaging-pod-1-app-0")["id"])
    sibling = dc1.live("servers", dc1.resource(INSTANCE, "messaging-pod-0-app-0")["id"])
    moved |= {
        observed.HOST_FIELD: sibling[observed.HOST_FIELD],
        "hostId": host_id(sibling[observed.HOST_FIELD]),
    }
    report = run(dc1, plan, catalog)
    assert sorted(d.field for d in report.drift) == [rules.POD_SPLIT, rules.PODS_SHARE_HOST]
    assert all(d.side is Side.RULES and d.blocking and d.up is Up.NOTHING for d in report.drift)
    assert all(moved["id"] in d.cloud_id for d in report.drift)


def test_a_replica_migrated_into_its_siblings_domain_breaks_the_placement_rules(
    dc1: Site, expected: Expected, plan: Plan, catalog: list[tuple[str, Service]]
) -> None:
    group = expected.groups[0]
    first, second = (next(v for v in dc1.volumes if v["name"] == n) for n in group.replicas[:2])
    second[observed.BACKEND_FIELD] = first[observed.BACKEND_FIELD]
    found = only(run(dc1, plan, catalog))
    assert (found.kind, found.field, found.blocking) == ("placement", rules.REPLICAS_SHARE_DOMAIN, True)


def _service(cloud: Site, host: str) -> dict[str, Any]:
    assert cloud.services is not None
    return next(s for s in cloud.services if s["host"] == host)


def test_a_host_down_is_reported_and_n_plus_one_is_rechecked_without_it(
    dc1: Site, plan: Plan, catalog: list[tuple[str, Service]]
) -> None:
    az1 = [h.name for h in plan.datacenter.hosts if h.availability_zone == "dc1-az1"]
    assert dc1.services is not None
    dc1.services.append({**_service(dc1, az1[0]), "host": "dc9-compute-01", "state": "down"})
    assert run(dc1, plan, catalog).drift == [], "a host outside the stack's inventory is not its drift"

    # dc1 keeps a spare host per zone: one host down is absorbed, a second is not.
    _service(dc1, az1[0])["state"] = "down"
    report = run(dc1, plan, catalog)
    assert ("host-down", f"host/{az1[0]}", "state") in kinds(report)
    assert not [d for d in report.drift if d.kind == "n-plus-one"]

    _service(dc1, az1[1])["state"] = "down"
    report = run(dc1, plan, catalog)
    capacity = [d for d in report.drift if d.kind == "n-plus-one"]
    assert capacity and all(d.blocking and d.side is Side.RULES for d in capacity)
    assert all(
        d.message.startswith(f"without {az1[0]}, {az1[1]}: zone dc1-az1 without its largest host")
        for d in capacity
    ), capacity

    _service(dc1, az1[2]).update(status="disabled", disabled_reason="broken PSU")
    report = run(dc1, plan, catalog)
    broken = [d for d in report.drift if d.kind == "n-plus-one"]
    assert broken and all(
        d.blocking and f"without {az1[0]}, {az1[1]}, {az1[2]}: " in d.message for d in broken
    )
    assert {d.name for d in broken if d.field == "pods.count"} == {
        f"catalog/{s}.yaml"
        for s in ("meetings-media", "meetings-signalling", "messaging", "recording-storage")
    }
    assert ("host-disabled", f"host/{az1[2]}", "status") in kinds(report)


def test_recorded_maintenance_is_reported_as_such_not_as_drift(
    dc1: Site, plan: Plan, catalog: list[tuple[str, Service]]
) -> None:
    # Two hosts of a zone in maintenance: what N+1 loses meanwhile is information, not drift.
    host, other = (h.name for h in plan.datacenter.hosts[:2])
    for name in (host, other):
        _service(dc1, name).update(
            status="disabled", disabled_reason=f"{MAINTENANCE_PREFIX} drain for firmware"
        )
    report = run(dc1, plan, catalog)
    assert sorted({d.kind for d in report.drift}) == ["maintenance", "n-plus-one"]
    assert all(d.risk is Risk.INFO and not d.blocking for d in report.drift)
    spare = next(d for d in report.drift if d.kind == "n-plus-one")
    assert spare.message.startswith(f"during the recorded maintenance of {host}, {other}: "), spare.message


def test_a_reader_that_may_not_list_compute_services_says_what_it_could_not_check(
    dc1: Site, plan: Plan, catalog: list[tuple[str, Service]]
) -> None:
    dc1.services = None
    report = run(dc1, plan, catalog)
    assert report.drift == [] and len(report.could_not_check) == 1
    assert "os_compute_api:os-services:list" in report.could_not_check[0]


def test_a_pending_change_is_the_plan_side_and_wins_over_a_live_change_of_its_field(
    dc1: Site, plan: Plan, catalog: list[tuple[str, Service]]
) -> None:
    server = dc1.resource(INSTANCE, "pod-0-app-0")
    server["inputs"]["metadata"]["owner"] = "old-owner"  # the program has changed it since
    server["outputs"]["metadata"]["owner"] = "old-owner"
    _server(dc1)["metadata"]["owner"] = "hand-edited"
    report = run(dc1, plan, catalog)
    live = next(d for d in report.drift if d.side is Side.LIVE)
    pending = next(d for d in report.drift if d.side is Side.PLAN)
    assert (pending.kind, pending.action, pending.resource) == ("pending", "update", server["urn"])
    assert (live.kind, live.up, live.planned) == (
        "metadata",
        Up.APPLY,
        server_planned_owner(plan, server["urn"]),
    )
    assert not report.blocking


def server_planned_owner(plan: Plan, urn: str) -> Any:
    return plan.by_urn()[urn].inputs["metadata"]["owner"]


def test_reports_say_side_up_risk_and_the_digest_to_acknowledge(
    dc1: Site, plan: Plan, catalog: list[tuple[str, Service]]
) -> None:
    _server(dc1).update(status="SHUTOFF")
    report = run(dc1, plan, catalog)
    document = json.loads(to_json(report))
    (entry,) = document["drift"]
    assert document["format"] == "webex-cloud.drift/v1" and document["blocking"] == 1
    assert (entry["kind"], entry["side"], entry["up"], entry["risk"]) == (
        "stopped",
        "live-vs-state",
        "revert",
        "block",
    )
    assert entry["observed"] == "SHUTOFF" and len(entry["observed_sha256"]) == 64
    text = to_text(report, "drift-acks/dc1.yaml")
    assert entry["observed_sha256"] in text and "drift-acks/dc1.yaml" in text
    assert "1 blocking drift(s)" in text


def test_every_class_is_documented_with_its_risk() -> None:
    """docs/drift.md carries the table of which class blocks and which warns: it must be this one."""
    from tests.conftest import REPO

    doc = (REPO / "docs" / "drift.md").read_text()
    for c in TABLE:
        assert f"| `{c.key}` | {c.side.value} | {c.up.value} | {c.risk.value} |" in doc, c.key
    assert set(CLASSES) == {c.key for c in TABLE}


def test_volume_case_is_a_volume(dc1: Site) -> None:
    """The attached-volume helper picks a Cinder volume of the plan (guards the cases above)."""
    assert _volume(dc1)["id"] in {r["id"] for r in dc1.resources if r["type"] == VOLUME}


def test_keys_cinder_sets_on_an_attached_volume_are_not_drift(
    dc1: Site, plan: Plan, catalog: list[tuple[str, Service]]
) -> None:
    _volume(dc1)["metadata"].update(readonly="False", attached_mode="rw")
    assert run(dc1, plan, catalog).drift == []
