"""`python -m webex_cloud drift` against the loopback OpenStack's real APIs, as the stack's reader.

The stack is deployed the way test_live_audit deploys it (its plan, its forced hosts and backends, in a
project of its own), plus the messaging service's network, subnet, security group, one of its rules and
the ports of its pods' instances, through openstacksdk. No Pulumi engine runs here: the checkpoint is
written in Pulumi's deployment format (pulumi/pulumi ``sdk/go/common/apitype/core.go``: version 3,
``ResourceV3`` with ``inputs`` and ``outputs``) from the resources created, with their real IDs, and the
outputs the bridged provider records (terraform-provider-openstack v3.4.0 attribute names); what `up` would
do is modelled from that provider's schema (webex_cloud/drift/classes.py). The plan's resources the test
does not create are pending changes on the plan side (info), never out-of-band drift: creations, and the
replacement of the servers whose ports it does not create (the gateways, the controller proxies).

Then twelve out-of-band changes are made through the APIs, one per class: a server deleted, stopped, set to
ERROR, rebuilt to another image, renamed, its metadata edited; a volume retyped; a rule added to the managed
group and the managed rule removed; the managed port's fixed IP and security groups changed; a port nobody
declared added to the managed network. Each is found and classified, nothing else is. Last, a compute host
forced down makes the N+1 re-check fail where it must (the reader may not list compute services, so that
check reads them as the admin and runs drift's own functions on the API's records).

The instances' image: the checkpoint's ``imageId`` input is the plan's own stand-in
(webex_cloud/config/image_ids.py) and its output the real Glance ID, which the offline diff reads as the
same image (webex_cloud/preview/offline.py ``_same_image``), as it reads a deploy's plan and checkpoint that
both hold the verified ID: no pending image change, so a rebuild out of band is reverted.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from openstack import exceptions

from tests.conftest import REPO
from tests.integration.conftest import (
    FAKE_HOSTS,
    Cleanup,
    boot_server,
    ensure_flavor,
    ensure_image,
    scoped_project,
    wait_for,
)
from tests.integration.test_live_audit import (
    PREFIX,
    STACK,
    ZONES,
    Site,
    clouds_file,
    deploy,
    loopback_plan,
    purge,
)
from webex_cloud.audit.expected import expected_from_plan
from webex_cloud.cloud.views import parse_compute_service
from webex_cloud.config.loader import load_catalog
from webex_cloud.drift.hosts import n_plus_one, unavailable
from webex_cloud.exit_codes import ExitCode
from webex_cloud.facts import invariants as rules
from webex_cloud.plan.format import (
    INSTANCE,
    NETWORK,
    PORT,
    SEC_GROUP,
    SEC_GROUP_RULE,
    SERVER_GROUP,
    SUBNET,
    VOLUME,
    VOLUME_ATTACH,
    read_plan,
)

DRIFT_TIMEOUT = 300
SERVICE = "messaging"


@dataclass
class Drifted:
    site: Site
    folder: Path
    network: dict[str, str] = field(default_factory=dict)
    """Plan URN -> real ID of the networking resources the test created."""
    extra_group: str = ""
    checkpoint: Path = Path()
    undo: Cleanup | None = None
    """The fixture's cleanup: a test registers what it creates outside the project (types, images)."""

    def after_everything(self, action: Any) -> None:
        """Run ``action`` last, after the project's servers and volumes are gone."""
        assert self.undo is not None
        self.undo.actions.insert(0, action)

    def urn_of(self, kind: str, name: str) -> str:
        return str(
            next(
                r["urn"]
                for r in self.site.plan["resources"]
                if r["type"] == kind and r["inputs"].get("name") == name
            )
        )

    def messaging_servers(self) -> set[str]:
        """The URNs of the messaging pods' servers, which test 2 changes out of band."""
        return {
            self.urn_of(INSTANCE, name)
            for name in self.site.created
            if name.startswith(f"{STACK}-{SERVICE}-pod-")
        }

    def drift(self) -> tuple[int, dict[str, Any]]:
        argv = [sys.executable, "-m", "webex_cloud", "drift", "--stack", STACK]
        argv += ["--plan", str(self.site.plan_path), "--checkpoint", str(self.checkpoint)]
        argv += ["--acks", str(self.folder / "no-acks.yaml"), "--clouds-yaml", str(self.site.clouds_yaml)]
        argv += ["--cloud", f"{PREFIX}reader", "--timeout", "60", "--json"]
        done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=DRIFT_TIMEOUT)
        assert done.returncode in (ExitCode.OK, ExitCode.BLOCKING), done.stderr
        return done.returncode, json.loads(done.stdout)


def _plan_resource(plan: dict[str, Any], kind: str, where: dict[str, Any]) -> dict[str, Any]:
    return next(
        r
        for r in plan["resources"]
        if r["type"] == kind and all(r["inputs"].get(k) == v for k, v in where.items())
    )


def create_networking(drifted: Drifted) -> None:
    """The messaging service's network, subnet, security group, first rule and the ports of its pods'
    instances, with the plan's names, CIDR and addresses (the instances boot without NICs: no Neutron
    agent runs here, so the ports stay unbound API objects).

    Every port a messaging instance names (``networks[0].port``) is created: a checkpoint holds what an
    instance depends on, and an instance whose port the checkpoint lacks still names the plan's mock ID
    there, which the offline diff reads as a new port (ForceNew): a pending *replacement* of the server,
    under which `up` would apply the program's server, not revert an out-of-band change to it."""
    plan, conn = drifted.site.plan, drifted.site.admin
    network = _plan_resource(plan, NETWORK, {"name": f"{STACK}-{SERVICE}"})
    subnet = _plan_resource(plan, SUBNET, {"networkId": network["id"]})
    group = _plan_resource(plan, SEC_GROUP, {"name": f"{STACK}-{SERVICE}"})
    rule = next(
        r
        for r in plan["resources"]
        if r["type"] == SEC_GROUP_RULE
        and r["inputs"].get("securityGroupId") == group["id"]
        and r["inputs"].get("remoteIpPrefix")
    )
    ports = [
        r for r in plan["resources"] if r["type"] == PORT and r["inputs"].get("networkId") == network["id"]
    ]
    net = conn.network.create_network(name=network["inputs"]["name"])
    sub = conn.network.create_subnet(
        network_id=net.id, cidr=subnet["inputs"]["cidr"], ip_version=4, name=subnet["inputs"]["name"]
    )
    sg = conn.network.create_security_group(name=group["inputs"]["name"])
    i = rule["inputs"]
    created_rule = conn.network.create_security_group_rule(
        security_group_id=sg.id,
        direction=i["direction"],
        ethertype=i["ethertype"],
        protocol=i.get("protocol"),
        port_range_min=i.get("portRangeMin"),
        port_range_max=i.get("portRangeMax"),
        remote_ip_prefix=i["remoteIpPrefix"],
    )
    drifted.network = {
        network["urn"]: net.id,
        subnet["urn"]: sub.id,
        group["urn"]: sg.id,
        rule["urn"]: created_rule.id,
    }
    for port in ports:
        created_port = conn.network.create_port(
            network_id=net.id,
            name=port["inputs"].get("name"),
            fixed_ips=[{"subnet_id": sub.id, "ip_address": port["inputs"]["fixedIps"][0]["ipAddress"]}],
            security_group_ids=[sg.id],
        )
        drifted.network[port["urn"]] = created_port.id
    drifted.extra_group = conn.network.create_security_group(name=f"{PREFIX}other-{uuid.uuid4().hex[:6]}").id


def write_checkpoint(drifted: Drifted) -> None:
    """The checkpoint an `up` of what was created would have written, in Pulumi's deployment format."""
    site, conn = drifted.site, drifted.site.admin
    by_mock: dict[str, str] = {}
    outputs: dict[str, dict[str, Any]] = {}
    for r in site.plan["resources"]:
        name = r["inputs"].get("name")
        if r["type"] == INSTANCE and name in site.created:
            server = conn.compute.get_server(site.created[name])
            by_mock[r["id"]] = server.id
            outputs[r["urn"]] = {
                "name": name,
                "metadata": dict(server.metadata or {}),
                "imageId": site.image.id,
                "flavorId": site.flavor.id,
                "flavorName": site.flavor.name,
                "powerState": "active",
            }
        elif r["type"] == VOLUME and name in site.created:
            volume = conn.block_storage.get_volume(site.created[name])
            by_mock[r["id"]] = volume.id
            outputs[r["urn"]] = {
                "name": name,
                "size": volume.size,
                "volumeType": volume.volume_type,
                "metadata": dict(volume.metadata or {}),
            }
        elif r["type"] == SERVER_GROUP:
            group = next((g for g in conn.compute.server_groups() if g.name == name), None)
            if group is not None:
                by_mock[r["id"]] = group.id
                policy = r["inputs"]["policies"]
                outputs[r["urn"]] = {
                    "name": name,
                    "policies": policy if isinstance(policy, list) else [policy],
                }
        elif r["urn"] in drifted.network:
            real = drifted.network[r["urn"]]
            by_mock[r["id"]] = real
            outputs[r["urn"]] = {"name": name} if name else {}
            if r["type"] == SEC_GROUP_RULE:
                outputs[r["urn"]] = {"direction": r["inputs"]["direction"]}
            if r["type"] == PORT:
                port = conn.network.get_port(real)
                outputs[r["urn"]] = {
                    "name": name,
                    "allFixedIps": [ip["ip_address"] for ip in port.fixed_ips],
                    "allSecurityGroupIds": list(port.security_group_ids),
                }
    resources = []
    for r in site.plan["resources"]:
        if r["custom"] and r["id"] not in by_mock:
            continue  # not deployed by the test: a pending creation on the plan side
        text = json.dumps(r["inputs"])
        for mock, real in by_mock.items():
            text = text.replace(mock, real)
        resources.append(
            {
                "urn": r["urn"],
                "custom": r["custom"],
                "id": by_mock.get(r["id"], "") if r["custom"] else "",
                "type": r["type"],
                "inputs": json.loads(text),
                "outputs": {**outputs.get(r["urn"], {}), "id": by_mock.get(r["id"], "")}
                if r["custom"]
                else {},
                "parent": r.get("parent", ""),
                "dependencies": r.get("dependencies", []),
            }
        )
    document = {
        "version": 3,
        "checkpoint": {
            "stack": f"organization/webex-cloud/{STACK}",
            "latest": {
                "manifest": {"time": "2026-12-06T00:00:00Z", "version": "v3.272.0"},
                "resources": resources,
            },
        },
    }
    # Not beside the plan: loopback_plan wrote the plan to <folder>/<stack>.json.
    drifted.checkpoint = drifted.folder / f"{STACK}.checkpoint.json"
    drifted.checkpoint.write_text(json.dumps(document))


@pytest.fixture(scope="module")
def drifted(openstack_conn: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Drifted]:
    admin = openstack_conn
    folder = tmp_path_factory.mktemp("live-drift")
    plan_path = loopback_plan(folder)
    plan = json.loads(plan_path.read_text())
    undo = Cleanup(admin)
    try:
        scoped = scoped_project(admin, undo, f"{PREFIX}drift", {"reader": ["reader"]})
        project, conn = scoped.project, scoped.conn
        flavor = undo.flavor(ensure_flavor(admin, f"{PREFIX}tiny"))
        image = undo.image(ensure_image(conn, f"{PREFIX}tiny"))
        types = {}
        for backend in ("storage-a@b1", "storage-a@b2", "storage-b@b3"):
            name = f"{PREFIX}{backend.partition('@')[2]}"
            types[backend] = admin.block_storage.find_type(name) or undo.volume_type(
                admin.block_storage.create_type(
                    name=name, extra_specs={"volume_backend_name": backend.partition("@")[2]}
                )
            )
        zone_of = {
            host: zone.name
            for zone in admin.compute.availability_zones(details=True)
            for host, services in (zone.hosts or {}).items()
            if "nova-compute" in services
        }
        site = Site(
            plan,
            plan_path,
            clouds_file(folder / "clouds.yaml", project, scoped.users),
            conn,
            flavor,
            image,
            types,
            zone_of,
        )
        undo.actions.append(lambda: purge_networking(conn))
        undo.actions.append(lambda: purge(conn))
        deploy(site)
        found = Drifted(site, folder, undo=undo)
        create_networking(found)
        write_checkpoint(found)
        yield found
    finally:
        undo.run()


def purge_networking(conn: Any) -> None:
    for port in list(conn.network.ports(project_id=conn.current_project_id)):
        conn.network.delete_port(port, ignore_missing=True)
    for network in list(conn.network.networks(project_id=conn.current_project_id)):
        conn.network.delete_network(network, ignore_missing=True)
    # The default group too (last: the others' rules may name it), which Neutron made for the project
    # and which deleting the project would leave behind; only an admin may delete it.
    groups = sorted(
        conn.network.security_groups(project_id=conn.current_project_id), key=lambda g: g.name == "default"
    )
    for group in groups:
        conn.network.delete_security_group(group, ignore_missing=True)


def out_of_band(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    return sorted(
        (d["kind"], d["resource"], d["field"]) for d in document["drift"] if d["side"] != "state-vs-plan"
    )


def test_1_a_clean_deployment_reports_no_drift_twice(drifted: Drifted) -> None:
    for _ in range(2):
        code, document = drifted.drift()
        assert (code, out_of_band(document), document["blocking"]) == (ExitCode.OK, [], 0), document
        assert {d["kind"] for d in document["drift"]} <= {"pending"}, "only what the test did not deploy"
        # The servers test 2 changes out of band have no pending change of their own: what `up` does to
        # each change is then the revert of the drift, not the program's update or replacement.
        assert not [d for d in document["drift"] if d["resource"] in drifted.messaging_servers()], document


def test_2_twelve_out_of_band_changes_are_found_and_classified(drifted: Drifted, openstack_conn: Any) -> None:
    site, conn = drifted.site, drifted.site.admin
    servers = sorted(n for n in site.created if n.startswith(f"{STACK}-{SERVICE}-pod-"))
    deleted, stopped, broken, rebuilt, renamed, edited = servers[:6]
    expected: set[tuple[str, str, str]] = set()

    site.delete_server(deleted)
    expected.add(("deleted", drifted.urn_of(INSTANCE, deleted), ""))

    conn.compute.stop_server(site.created[stopped])
    conn.compute.wait_for_server(conn.compute.get_server(site.created[stopped]), status="SHUTOFF", wait=120)
    expected.add(("stopped", drifted.urn_of(INSTANCE, stopped), "powerState"))

    conn.compute.reset_server_state(site.created[broken], "error")
    expected.add(("error", drifted.urn_of(INSTANCE, broken), "status"))

    other_image = ensure_image(conn, f"{PREFIX}other-{uuid.uuid4().hex[:6]}")
    drifted.after_everything(lambda: openstack_conn.image.delete_image(other_image, ignore_missing=True))
    conn.compute.rebuild_server(site.created[rebuilt], image=other_image.id)
    conn.compute.wait_for_server(conn.compute.get_server(site.created[rebuilt]), status="ACTIVE", wait=120)
    expected.add(("rebuilt", drifted.urn_of(INSTANCE, rebuilt), "imageId"))

    conn.compute.update_server(site.created[renamed], name=f"{renamed}-by-hand")
    expected.add(("renamed", drifted.urn_of(INSTANCE, renamed), "name"))

    conn.compute.set_server_metadata(site.created[edited], owner="someone-else")
    expected.add(("metadata", drifted.urn_of(INSTANCE, edited), "metadata.owner"))

    replica = f"{STACK}-{SERVICE}-messages-0"
    alternative = conn.block_storage.create_type(
        name=f"{PREFIX}b1-alt-{uuid.uuid4().hex[:6]}", extra_specs={"volume_backend_name": "b1"}
    )
    drifted.after_everything(
        lambda: openstack_conn.block_storage.delete_type(alternative, ignore_missing=True)
    )
    conn.block_storage.retype_volume(site.created[replica], alternative.name, migration_policy="never")
    wait_for(
        "the retype",
        lambda: (
            True
            if conn.block_storage.get_volume(site.created[replica]).volume_type == alternative.name
            else None
        ),
    )
    expected.add(("retyped", drifted.urn_of(VOLUME, replica), "volumeType"))

    type_of = {r["urn"]: r["type"] for r in site.plan["resources"]}
    group_urn, rule_urn, network_urn = (
        next(u for u in drifted.network if type_of[u] == kind)
        for kind in (SEC_GROUP, SEC_GROUP_RULE, NETWORK)
    )
    port_urn = drifted.urn_of(PORT, deleted)  # a port outlives its server: still the program's
    added = conn.network.create_security_group_rule(
        security_group_id=drifted.network[group_urn],
        direction="ingress",
        ethertype="IPv4",
        protocol="tcp",
        port_range_min=22,
        port_range_max=22,
        remote_ip_prefix="192.0.2.0/24",
    )
    expected.add(("rule-added", f"security-group-rule/{added.id}", "rules"))
    conn.network.delete_security_group_rule(drifted.network[rule_urn])
    expected.add(("rule-removed", rule_urn, ""))

    port = conn.network.get_port(drifted.network[port_urn])
    ip = port.fixed_ips[0]
    moved = ip["ip_address"].rsplit(".", 1)[0] + ".200"
    conn.network.update_port(
        port,
        fixed_ips=[{"subnet_id": ip["subnet_id"], "ip_address": moved}],
        security_groups=[drifted.extra_group],
    )
    expected |= {("port-changed", port_urn, "fixedIps"), ("port-changed", port_urn, "securityGroupIds")}

    stranger = conn.network.create_port(network_id=drifted.network[network_urn], device_id=str(uuid.uuid4()))
    expected.add(("unmanaged", f"port/{stranger.id}", ""))

    code, document = drifted.drift()
    assert code == ExitCode.BLOCKING
    assert set(out_of_band(document)) == expected, document
    by_kind = {d["kind"]: d for d in document["drift"] if d["side"] != "state-vs-plan"}
    assert by_kind["deleted"]["up"] == "recreate" and by_kind["rebuilt"]["up"] == "revert"
    assert by_kind["rule-added"]["up"] == "nothing" and by_kind["rule-added"]["risk"] == "warn"
    assert by_kind["stopped"]["blocking"] and not by_kind["metadata"]["blocking"]


def test_3_a_host_forced_down_breaks_n_plus_one_where_it_must(drifted: Drifted, openstack_conn: Any) -> None:
    plan = read_plan(drifted.site.plan_path)
    expected = expected_from_plan(plan, str(drifted.site.plan_path))
    catalog = load_catalog(drifted.folder / "project")
    compute = openstack_conn.compute

    def services() -> list[Any]:
        response = compute.get("/os-services", params={"binary": "nova-compute"}, microversion="2.53")
        response.raise_for_status()
        return [parse_compute_service(s) for s in response.json()["services"]]

    down, drained = unavailable(services(), expected.hosts)
    assert (down, drained, n_plus_one(plan, catalog, down, drained)) == ([], [], [])
    host = expected.hosts[0]
    service = next(s for s in services() if s.host == host)
    body = {"forced_down": True}
    compute.put(f"/os-services/{service.id}", json=body, microversion="2.53").raise_for_status()
    try:
        wait_for(
            f"{host} to be down",
            lambda: True if not next(s for s in services() if s.host == host).up else None,
        )
        down, drained = unavailable(services(), expected.hosts)
        broken = n_plus_one(plan, catalog, down, drained)
        assert down == [host] and broken
        # Both of the loader's N+1 rules, each newly broken in the down host's zone only: its one host
        # left cannot take a second pod of a service (pods.count, per service), and the zone without
        # that host, its largest, has no capacity left for its pods (the stack's zone capacity, hosts).
        # The same inventory given to the loader fails both rules: the capacity finding is N+1 as
        # config/capacity.py defines it, not a repeat of the pods' finding.
        zone = next(z for z, hosts in ZONES.items() if host in hosts)  # the plan's zone, not Nova's
        assert sorted((d.name, d.field) for d in broken) == [
            ("catalog/messaging.yaml", "pods.count"),
            ("catalog/telepresence-gateway.yaml", "pods.count"),
            (f"stack {STACK}", "hosts"),
        ], [(d.field, d.message) for d in broken]
        assert all(d.message.startswith(f"without {host}: ") and zone in d.message for d in broken)
        others = set(ZONES) - {zone}
        assert not [d.message for d in broken if any(other in d.message for other in others)]
    finally:
        compute.put(
            f"/os-services/{service.id}", json={"forced_down": False}, microversion="2.53"
        ).raise_for_status()


def forced_live_migration(conn: Any, server_id: str, host: str) -> None:
    """``os-migrateLive`` to a named host with ``force`` (2.30-2.67: no scheduler, no filter), as an
    operator moves a server by hand; returns once Nova has it ACTIVE there."""
    body = {"os-migrateLive": {"host": host, "block_migration": "auto", "force": True}}
    response = conn.compute.post(f"/servers/{server_id}/action", json=body, microversion="2.67")
    exceptions.raise_from_response(response)

    def arrived() -> bool | None:
        server = conn.compute.get_server(server_id)
        return True if server.compute_host == host and server.status == "ACTIVE" else None

    wait_for(f"{server_id} live-migrated to {host}", arrived, 120)


def record_in_checkpoint(drifted: Drifted, resource: dict[str, Any]) -> None:
    """What the `up` that made ``resource`` would have added to the checkpoint."""
    document = json.loads(drifted.checkpoint.read_text())
    document["checkpoint"]["latest"]["resources"].append(resource)
    drifted.checkpoint.write_text(json.dumps(document))


def test_4_moves_a_resize_a_shelve_a_detach_and_a_stranger_in_a_group(
    drifted: Drifted, openstack_conn: Any
) -> None:
    """The classes the fake virt driver can show besides test 2's: servers moved out of band by a forced
    live migration (a whole pod to a host without a sibling: nothing to report; a pod's anchor away from
    its members: the pod is split, the move named as its cause), resized, shelved, a volume detached, and
    a server nobody declared in a managed server group. Each is found and classified against what drift
    reported before it (test 2's changes stay in place).

    Not here: a pod moved onto its sibling's host. Nova refuses it even forced: the destination's
    compute checks the anchors' anti-affinity group (nova 26 compute/manager.py
    ``check_can_live_migrate_destination`` and ``pre_live_migration``, ``_validate_instance_group_policy``;
    the conductor then sets the server to ERROR), so that drift arises only outside Nova's checks; it is
    tested on Nova's recorded API shapes (tests/drift/test_forced_moves.py)."""
    site, conn = drifted.site, drifted.site.admin
    # A replica attached to its instance as the plan says, and recorded: the baseline of the detach.
    replica = f"{STACK}-{SERVICE}-messages-1"
    plan_id = {r["id"]: r["inputs"].get("name") for r in site.plan["resources"]}
    attach = next(
        r
        for r in site.plan["resources"]
        if r["type"] == VOLUME_ATTACH and plan_id[r["inputs"]["volumeId"]] == replica
    )
    holder, volume_id = site.created[plan_id[attach["inputs"]["instanceId"]]], site.created[replica]
    conn.compute.create_volume_attachment(holder, volume=volume_id)
    wait_for(
        f"{replica} in use",
        lambda: True if conn.block_storage.get_volume(volume_id).status == "in-use" else None,
    )
    ids = {"instanceId": holder, "volumeId": volume_id}
    record_in_checkpoint(
        drifted,
        {
            "urn": attach["urn"],
            "custom": True,
            # terraform-provider-openstack v3.4.0 resource_openstack_compute_volume_attach_v2.go:
            # "<instance id>/<attachment id>", and Nova's attachment ID is the volume's.
            "id": f"{holder}/{volume_id}",
            "type": VOLUME_ATTACH,
            "inputs": ids,
            "outputs": {**ids, "id": f"{holder}/{volume_id}"},
            "parent": attach.get("parent", ""),
            "dependencies": attach.get("dependencies", []),
        },
    )
    _, document = drifted.drift()
    before = set(out_of_band(document))
    assert not [d for d in before if d[1] == attach["urn"]], document

    expected: set[tuple[str, str, str]] = set()
    hosts = {s.name: s.compute_host for s in conn.compute.servers(details=True)}
    gateway = [f"{STACK}-telepresence-gateway-pod-{i}-gateway-0" for i in (0, 1)]
    anchor = f"{STACK}-{SERVICE}-pod-1-app-0"  # test 2 rebuilt it; ACTIVE with its pod
    free = next(h for h in FAKE_HOSTS if h not in (hosts[gateway[0]], hosts[gateway[1]], hosts[anchor]))
    # A whole pod (one instance) moved to a host with no sibling: still whole and apart, nothing to say.
    forced_live_migration(conn, site.created[gateway[0]], free)
    # An anchor moved away from its members, to a host without a pod: the pod is split, nothing else.
    pods = (f"{STACK}-{SERVICE}-pod-", f"{STACK}-telepresence-gateway-pod-")
    taken = {s.compute_host for s in conn.compute.servers(details=True) if s.name.startswith(pods)}
    away = next(h for h in FAKE_HOSTS if h not in taken)
    forced_live_migration(conn, site.created[anchor], away)

    resized, shelved = f"{STACK}-controller-proxy-0", f"{STACK}-controller-proxy-1"
    bigger = ensure_flavor(openstack_conn, f"{PREFIX}tiny-resized-{uuid.uuid4().hex[:6]}", vcpus=2)
    drifted.after_everything(lambda: openstack_conn.compute.delete_flavor(bigger, ignore_missing=True))
    conn.compute.resize_server(site.created[resized], bigger.id)
    conn.compute.wait_for_server(
        conn.compute.get_server(site.created[resized]), status="VERIFY_RESIZE", wait=120
    )
    conn.compute.confirm_server_resize(site.created[resized])
    conn.compute.wait_for_server(conn.compute.get_server(site.created[resized]), status="ACTIVE", wait=120)
    # The inventory lists servers at the base microversion (webex_cloud/cloud/views.py read_servers):
    # below 2.47 a server names its flavor by ID, which drift compares (webex_cloud/drift/live.py).
    expected.add(("resized", drifted.urn_of(INSTANCE, resized), "flavorId"))

    # Offloaded at once (shelved_offload_time 0): the fake driver's snapshot is a Glance image without data.
    conn.compute.shelve_server(site.created[shelved])
    conn.compute.wait_for_server(
        conn.compute.get_server(site.created[shelved]), status="SHELVED_OFFLOADED", wait=120
    )
    drifted.after_everything(lambda: delete_images(openstack_conn, f"{shelved}-shelved"))
    expected.add(("shelved", drifted.urn_of(INSTANCE, shelved), "powerState"))

    conn.compute.delete_volume_attachment(holder, volume_id)
    wait_for(
        f"{replica} detached",
        lambda: True if conn.block_storage.get_volume(volume_id).status == "available" else None,
    )
    expected.add(("detached", attach["urn"], "instanceId"))

    group = next(g for g in conn.compute.server_groups() if g.name == f"{STACK}-controller-api")
    stranger = boot_server(
        conn, f"{PREFIX}stranger", flavor=site.flavor, image=site.image, scheduler_hints={"group": group.id}
    )
    expected.add(("unmanaged", f"server/{stranger.id}", "members"))

    code, document = drifted.drift()
    assert code == ExitCode.BLOCKING
    found = set(out_of_band(document)) - before
    placement = {d for d in found if d[0] == "placement"}
    assert found - placement == expected, document
    by_rule = {
        d["field"]: d for d in document["drift"] if (d["kind"], d["resource"], d["field"]) in placement
    }
    # The shelved proxy is offloaded: a one-member pod (webex_cloud/audit/expected.py) on no host.
    assert sorted(by_rule) == sorted([rules.POD_SPLIT, rules.UNPLACED]), document
    assert site.created[shelved] in by_rule[rules.UNPLACED]["observed"]["uuids"], document
    split = by_rule[rules.POD_SPLIT]
    assert split["name"] == f"{SERVICE}-pod-1" and site.created[anchor] in split["observed"]["uuids"]
    # Who moved what: the live migration Nova recorded, read with the reader's own identity.
    assert split["blocking"] and split["cause"]["known"], split
    (move,) = [m for m in split["cause"]["moves"] if m["server"] == site.created[anchor]]
    assert move["action"] == "live-migration", split
    kinds = {d["kind"]: d for d in document["drift"] if (d["kind"], d["resource"], d["field"]) in found}
    # The proxies carry the plan's pending replacement (the test creates no ports for them: the module's
    # docstring), so `up` applies the program's server over the resize and the shelve.
    assert kinds["resized"]["up"] == "apply" and kinds["shelved"]["up"] == "apply", document
    assert kinds["detached"]["up"] == "recreate" and kinds["detached"]["blocking"], document
    assert kinds["unmanaged"]["up"] == "nothing" and not kinds["unmanaged"]["blocking"]


def delete_images(conn: Any, name: str) -> None:
    for image in list(conn.image.images(name=name)):
        conn.image.delete_image(image, ignore_missing=True)
