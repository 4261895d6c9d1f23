"""`python -m webex_cloud audit` against the loopback OpenStack's real APIs, as the two read-only identities
of docs/identities.md: an observer (Keystone's reader plus the role the loopback's policy files grant host
names and backends) and a plain reader; an admin's token is refused.

A part of the example catalog (messaging with 2 pods and 2 replicas, telepresence-gateway, the controller
pair) is rendered as a real plan of dc1 whose inventory is the loopback's (hosts fake-host-1..4, failure
domains fd-a = storage-a@b1, @b2 and fd-b = storage-b@b3), then deployed in a project of its own through
openstacksdk with the plan's names, metadata and hints (``nova_hints``/``cinder_hints`` of
test_plan_placement). Where each one lands is chosen by the test, not left to the schedulers (that is
test_plan_placement's subject): instances are forced onto a host (``availability_zone='<zone>:<host>'``,
admin only, which skips the filters) and replicas onto a backend through a volume type per backend
(``volume_backend_name``), so the audit's verdict is known in advance. Then the violations are forced
through the admin API as an operator would cause them: a pod member re-booted onto a sibling pod's host
without hints, a replica re-created on its sibling's backend, a pod member deleted, an instance booted
with the stack's ownership keys that the catalog does not know.

Everything is created under the prefix ``i14-`` (project, user, flavor, image, volume types); the servers
and volumes carry the plan's own names inside that project, which is deleted at the end.
"""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from webex_scheduler_filters import hints

from tests.conftest import REPO, ProjectCopy
from tests.integration.conftest import (
    BACKENDS,
    CLOUD,
    CLOUDS_YAML,
    FAKE_HOSTS,
    Cleanup,
    boot_server,
    create_volume,
    ensure_flavor,
    ensure_image,
    scoped_project,
    wait_for,
)
from tests.integration.test_plan_placement import cinder_hints, nova_hints
from webex_cloud.cloud import views as observed
from webex_cloud.exit_codes import ExitCode
from webex_cloud.facts import invariants as rules
from webex_cloud.picture import SVG_NS
from webex_cloud.plan.document import render_plan
from webex_cloud.plan.format import INSTANCE, SERVER_GROUP, VOLUME, dumps

STACK = "dc1"
PREFIX = "i14-"
OBSERVER_ROLE = "webex-observer"
"""The role tools/openstack-loopback/etc/{nova,cinder}-policy.yaml grant the two read rules."""
KEPT = ("messaging", "telepresence-gateway")
ZONES = {"dc1-az1": FAKE_HOSTS[:2], "dc1-az2": FAKE_HOSTS[2:]}
#: Where the clean deployment puts each pod (and each controller proxy): sibling pods apart.
POD_HOSTS = {
    "messaging-pod-0": "fake-host-1",
    "messaging-pod-1": "fake-host-3",
    "telepresence-gateway-pod-0": "fake-host-2",
    "telepresence-gateway-pod-1": "fake-host-4",
}
PROXY_HOSTS = {"dc1-controller-proxy-0": "fake-host-1", "dc1-controller-proxy-1": "fake-host-3"}
#: The stack's monitoring pair (stack file `monitoring.instances`), apart like the proxies.
MONITORING_HOSTS = {"dc1-monitoring-0": "fake-host-2", "dc1-monitoring-1": "fake-host-4"}
REPLICA_BACKENDS = ("storage-a@b1", "storage-b@b3")
AUDIT_TIMEOUT = 300


def loopback_plan(folder: Path, backends: Mapping[str, str] = BACKENDS) -> Path:
    """dc1's plan, rendered by the real program from the example catalog cut down to fit the loopback,
    its failure domains those of ``backends`` (``host@backend`` -> domain)."""
    copy = ProjectCopy(folder / "project")
    for path in (copy.root / "catalog").glob("*.yaml"):
        if path.stem not in KEPT:
            path.unlink()

    def messaging(doc: dict[str, Any]) -> None:
        doc["pods"]["count"] = 2
        doc["volume_groups"][0]["replicas"] = 2

    copy.edit("catalog/messaging.yaml", messaging)

    def datacenter(dc: dict[str, Any]) -> None:
        dc["hosts"] = [
            {"name": host, "vcpus": 1000, "ram_mb": 800_000, "availability_zone": zone}
            for zone, hosts in ZONES.items()
            for host in hosts
        ]
        dc["failure_domains"] = {
            domain: sorted(b for b, d in backends.items() if d == domain)
            for domain in sorted(set(backends.values()))
        }
        # The loopback has two failure domains: N+1 spare capacity is not what this test is about.
        dc["placement"] = {"n_plus_one": False}

    copy.edit_datacenter(STACK, datacenter)
    path = folder / f"{STACK}.json"
    path.write_text(dumps(render_plan(STACK, project_dir=copy.root)))
    return path


@dataclass
class Site:
    plan: dict[str, Any]
    plan_path: Path
    clouds_yaml: Path
    admin: Any
    """Admin connection scoped to the test's project."""
    flavor: Any
    image: Any
    types: dict[str, Any]
    """Cinder backend ``host@backend`` -> the volume type that lands there."""
    zone_of: dict[str, str]
    created: dict[str, str] = field(default_factory=dict)
    """Cloud name -> UUID of what the test created."""

    def resources(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.plan["resources"] if r["type"] == kind]

    def inputs(self, cloud_name: str) -> dict[str, Any]:
        return next(
            r["inputs"]
            for r in self.plan["resources"]
            if r["type"] in (INSTANCE, VOLUME) and r["inputs"].get("name") == cloud_name
        )

    def boot(
        self, name: str, host: str, *, metadata: dict[str, str], scheduler_hints: dict[str, str] | None = None
    ) -> str:
        server = boot_server(
            self.admin,
            name,
            flavor=self.flavor,
            image=self.image,
            availability_zone=f"{self.zone_of[host]}:{host}",
            metadata=metadata,
            scheduler_hints=scheduler_hints,
        )
        assert server.compute_host == host, f"{name} was forced onto {host} but is on {server.compute_host}"
        self.created[name] = str(server.id)
        return str(server.id)

    def volume(
        self,
        name: str,
        backend: str,
        *,
        metadata: dict[str, str],
        scheduler_hints: dict[str, str] | None = None,
    ) -> str:
        volume = create_volume(
            self.admin,
            name,
            size_gb=1,
            volume_type=self.types[backend].name,
            metadata=metadata,
            scheduler_hints=scheduler_hints,
        )
        assert volume.host.partition("#")[0] == backend, f"{name} landed on {volume.host}, not {backend}"
        self.created[name] = str(volume.id)
        return str(volume.id)

    def delete_server(self, name: str) -> None:
        compute = self.admin.compute
        server = compute.get_server(self.created.pop(name))
        compute.delete_server(server)
        compute.wait_for_delete(server, wait=120)

    def delete_volume(self, name: str) -> None:
        storage = self.admin.block_storage
        volume = storage.get_volume(self.created.pop(name))
        storage.delete_volume(volume)
        storage.wait_for_delete(volume, wait=120)

    def command(self, cloud: str, *extra: str) -> subprocess.CompletedProcess[str]:
        """The command as an operator runs it, in its own process."""
        argv = [sys.executable, "-m", "webex_cloud", "audit", "--stack", STACK, "--plan", str(self.plan_path)]
        argv += ["--clouds-yaml", str(self.clouds_yaml), "--cloud", cloud, "--timeout", "60", *extra]
        return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=AUDIT_TIMEOUT)

    def run_audit(self, cloud: str, *extra: str) -> subprocess.CompletedProcess[str]:
        done = self.command(cloud, *extra)
        assert done.returncode in (ExitCode.OK, ExitCode.BLOCKING), done.stderr
        return done

    def audit(self, cloud: str, *extra: str) -> tuple[int, dict[str, Any], str]:
        done = self.run_audit(cloud, "--json", *extra)
        return done.returncode, json.loads(done.stdout), done.stderr


def clouds_file(path: Path, project: Any, users: dict[str, tuple[str, str]]) -> Path:
    """A clouds.yaml with the loopback admin and the test's users, all scoped to the test's project."""
    admin = yaml.safe_load(CLOUDS_YAML.read_text())["clouds"][CLOUD]
    scoped = {**admin, "auth": {**admin["auth"], "project_name": project.name}}
    entries = {f"{PREFIX}admin": scoped}
    for entry, (user, password) in users.items():
        entries[f"{PREFIX}{entry}"] = {
            **scoped,
            "auth": {**scoped["auth"], "username": user, "password": password},
        }
    path.write_text(yaml.safe_dump({"clouds": entries}))
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def site(openstack_conn: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    admin = openstack_conn
    folder = tmp_path_factory.mktemp("live-audit")
    plan_path = loopback_plan(folder)
    plan = json.loads(plan_path.read_text())
    undo = Cleanup(admin)
    try:
        # The reader has Keystone's role 'reader' only; the observer also the read-only role that the
        # loopback's policy files grant host names and backends (tools/openstack-loopback/etc/*-policy.yaml).
        if admin.identity.find_role(OBSERVER_ROLE) is None:
            admin.identity.create_role(name=OBSERVER_ROLE)
        scoped = scoped_project(
            admin, undo, f"{PREFIX}audit", {"reader": ["reader"], "observer": ["reader", OBSERVER_ROLE]}
        )
        project, conn, users = scoped.project, scoped.conn, scoped.users
        flavor = undo.flavor(ensure_flavor(admin, f"{PREFIX}tiny"))
        image = undo.image(ensure_image(conn, f"{PREFIX}tiny"))
        types = {}
        for backend in sorted(BACKENDS):
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
        assert set(FAKE_HOSTS) <= set(zone_of), f"the fake hosts' zones: {zone_of}"
        live = Site(
            plan,
            plan_path,
            clouds_file(folder / "clouds.yaml", project, users),
            conn,
            flavor,
            image,
            types,
            zone_of,
        )
        undo.actions.append(lambda: purge(conn))
        deploy(live)
        yield live
    finally:
        undo.run()


def purge(conn: Any) -> None:
    """Every server, volume and server group of the test's project, deleted and waited for."""
    for server in list(conn.compute.servers()):
        conn.compute.delete_server(server, ignore_missing=True)
    wait_for(
        "the audit test's servers to go", lambda: None if list(conn.compute.servers()) else True, timeout=300
    )
    for volume in list(conn.block_storage.volumes()):
        conn.block_storage.delete_volume(volume, ignore_missing=True)
    wait_for(
        "the audit test's volumes to go",
        lambda: None if list(conn.block_storage.volumes()) else True,
        timeout=300,
    )
    for group in list(conn.compute.server_groups()):
        conn.compute.delete_server_group(group, ignore_missing=True)


def deploy(site: Site) -> None:
    """The plan's pods, proxies, monitoring nodes and replicas, where POD_HOSTS, PROXY_HOSTS,
    MONITORING_HOSTS and REPLICA_BACKENDS say."""
    real_group = {}
    for group in site.resources(SERVER_GROUP):
        created = site.admin.compute.create_server_group(
            name=group["inputs"]["name"], policy=group["inputs"]["policies"]
        )
        real_group[group["id"]] = created.id
    for service in KEPT:
        for pod in site.plan["services"][service]["pods"]:
            for urn in pod["instances"]:
                inputs = next(r["inputs"] for r in site.plan["resources"] if r["urn"] == urn)
                site.boot(
                    inputs["name"],
                    POD_HOSTS[pod["name"]],
                    metadata=inputs["metadata"],
                    scheduler_hints=nova_hints(inputs, real_group),
                )
    for name, host in (PROXY_HOSTS | MONITORING_HOSTS).items():
        site.boot(name, host, metadata=site.inputs(name)["metadata"])
    (group,) = site.plan["services"]["messaging"]["volume_groups"]
    for urn, backend in zip(group["replicas"], REPLICA_BACKENDS, strict=True):
        inputs = next(r["inputs"] for r in site.plan["resources"] if r["urn"] == urn)
        site.volume(
            inputs["name"], backend, metadata=inputs["metadata"], scheduler_hints=cinder_hints(inputs)
        )


def findings(document: dict[str, Any]) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    """(kind, sorted UUIDs, where) of every finding."""
    return sorted((f["kind"], tuple(sorted(f["uuids"])), tuple(f["where"])) for f in document["findings"])


def svg_names(path: Path, kind: str) -> dict[str, set[str]]:
    root = ET.parse(path).getroot()
    return {
        g.get("data-name", ""): {m.get("data-name", "") for m in g.findall(f"{{{SVG_NS}}}g")}
        for g in root.iter(f"{{{SVG_NS}}}g")
        if g.get("class") == kind
    }


def test_0_the_audit_refuses_an_identity_that_could_write(site: Site) -> None:
    done = site.command(f"{PREFIX}admin")
    assert done.returncode == ExitCode.INPUT, done.stderr
    assert "read-only identity" in done.stderr and "admin" in done.stderr and "Traceback" not in done.stderr
    assert not done.stdout


def test_1_the_clean_deployment_audits_clean_as_observer_and_as_reader(site: Site, tmp_path: Path) -> None:
    code, report, _ = site.audit(f"{PREFIX}observer", "--svg", str(tmp_path / "admin.svg"))
    assert (code, report["findings"], report["could_not_check"]) == (ExitCode.OK, [], [])
    assert report["checked"]["servers_read"] == len(site.resources(INSTANCE))
    hosts = svg_names(tmp_path / "admin.svg", "host")
    assert list(hosts) == list(FAKE_HOSTS)
    for pod, host in POD_HOSTS.items():
        assert pod in hosts[host], (pod, host)
    domains = svg_names(tmp_path / "admin.svg", "domain")
    assert domains == {"fd-a": {"dc1-messaging-messages-0"}, "fd-b": {"dc1-messaging-messages-1"}}

    code, report, _ = site.audit(f"{PREFIX}reader")
    assert (code, report["findings"]) == (ExitCode.OK, [])
    assert [c["rule"] for c in report["could_not_check"]] == [observed.HOST_RULE, observed.BACKEND_RULE]
    assert all(h.startswith("hostId:") for pod in report["pods"] for h in pod["members"])


def test_2_forced_violations_are_reported_with_their_uuids(site: Site, tmp_path: Path) -> None:
    # A pod member re-booted by hand onto its sibling pod's host (no hints: an operator's manual boot).
    moved = "dc1-messaging-pod-1-app-0"
    metadata = site.inputs(moved)["metadata"]
    site.delete_server(moved)
    moved_id = site.boot(moved, POD_HOSTS["messaging-pod-0"], metadata=metadata)
    # A replica re-created by hand on its sibling's failure domain (another backend of fd-a).
    replica = "dc1-messaging-messages-1"
    volume_metadata = {
        k: v for k, v in site.inputs(replica)["metadata"].items() if k != hints.VOLUME_GROUP_METADATA_KEY
    }
    site.delete_volume(replica)
    replica_id = site.volume(replica, "storage-a@b2", metadata=volume_metadata)
    # A pod member deleted, and an instance of ours that the catalog does not know.
    site.delete_server("dc1-telepresence-gateway-pod-1-gateway-0")
    stray_id = site.boot(f"{PREFIX}stray", "fake-host-2", metadata=site.inputs(moved)["metadata"])

    pod0 = [site.created[n] for n in site.created if n.startswith("dc1-messaging-pod-0-")]
    pod1 = [site.created[n] for n in site.created if n.startswith("dc1-messaging-pod-1-")]
    assert moved_id in pod1 and len(pod0) == len(pod1) == 3
    code, report, _ = site.audit(f"{PREFIX}observer", "--svg", str(tmp_path / "admin.svg"))
    assert code == ExitCode.BLOCKING
    assert findings(report) == sorted(
        [
            (rules.POD_SPLIT, tuple(sorted(pod1)), ("fake-host-1", "fake-host-3")),
            (rules.PODS_SHARE_HOST, tuple(sorted([*pod0, moved_id])), ("fake-host-1",)),
            (
                rules.REPLICAS_SHARE_DOMAIN,
                tuple(sorted([site.created["dc1-messaging-messages-0"], replica_id])),
                ("fd-a",),
            ),
            (rules.MISSING_INSTANCE, (), ()),
            (rules.UNEXPECTED_INSTANCE, (stray_id,), ("fake-host-2",)),
        ]
    )
    missing = next(f for f in report["findings"] if f["kind"] == rules.MISSING_INSTANCE)
    assert "dc1-telepresence-gateway-pod-1-gateway-0" in missing["message"]
    root = ET.parse(tmp_path / "admin.svg").getroot()
    red = {
        (column.get("data-name"), mark.get("data-name"))
        for column in root.iter(f"{{{SVG_NS}}}g")
        for mark in column.findall(f"{{{SVG_NS}}}g")
        if "violation" in (mark.get("class") or "").split()
    }
    assert {
        ("fake-host-1", "messaging-pod-0"),
        ("fake-host-1", "messaging-pod-1"),
        ("fake-host-3", "messaging-pod-1"),
        ("fd-a", "dc1-messaging-messages-0"),
        ("fd-a", replica),
        ("fake-host-2", f"{PREFIX}stray"),
    } == red

    code, report, stderr = site.audit(f"{PREFIX}reader")
    assert code == ExitCode.BLOCKING, stderr
    kinds = sorted(f["kind"] for f in report["findings"])
    assert kinds == sorted(
        [rules.POD_SPLIT, rules.PODS_SHARE_HOST, rules.MISSING_INSTANCE, rules.UNEXPECTED_INSTANCE]
    )
    shared = next(f for f in report["findings"] if f["kind"] == rules.PODS_SHARE_HOST)
    assert sorted(shared["uuids"]) == sorted([*pod0, moved_id]) and shared["where"][0].startswith("hostId:")
    assert [c["rule"] for c in report["could_not_check"]] == [observed.HOST_RULE, observed.BACKEND_RULE]

    done = site.run_audit(f"{PREFIX}reader")
    print(f"\nthe reader's text report:\n{done.stdout}")
    assert done.returncode == ExitCode.BLOCKING
    assert (
        f"could not check the failure domains of volume replicas: needs policy rule {observed.BACKEND_RULE}"
        in done.stdout
    )
