"""The real program rendered under the mock engine: what each datacenter stack would deploy."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import subprocess
import sys
from collections import defaultdict
from functools import cache
from pathlib import Path
from typing import Any

import pulumi
import pytest
from webex_scheduler_filters import hints

from tests.conftest import REPO, ProjectCopy
from webex_cloud import naming
from webex_cloud.config.errors import CatalogError
from webex_cloud.config.loader import load_deployment
from webex_cloud.config.resolved import Deployment
from webex_cloud.exit_codes import ExitCode
from webex_cloud.plan import capture
from webex_cloud.plan import format as tokens
from webex_cloud.plan.capture import run_program
from webex_cloud.plan.document import render_plan
from webex_cloud.plan.format import dumps
from webex_cloud.release.rollout import GATE_TYPE

INSTANCE = "openstack:compute/instance:Instance"
GROUP = "openstack:compute/serverGroup:ServerGroup"
VOLUME = "openstack:blockstorage/volume:Volume"
ATTACH = "openstack:compute/volumeAttach:VolumeAttach"
PORT = "openstack:networking/port:Port"
RULE = "openstack:networking/secGroupRule:SecGroupRule"


def run_plan(*args: str) -> subprocess.CompletedProcess[str]:
    """The plan command as a user runs it, in its own process."""
    return subprocess.run(
        [sys.executable, "-m", "webex_cloud", "plan", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )


GROWN_SERVICE = """\
# A service the example catalog does not have: the catalog-derived tests must hold for it too.
name: whiteboard
owner: team-messaging
description: Shared whiteboards
network:
  prefix_length: 25
  ingress:
    - {protocol: tcp, ports: 443, source: any, description: whiteboard API}
pods:
  count: 2
  members:
    - {role: app, flavor: m1.small, image: webex-base-2026.11, count: 1}
    - {role: store, flavor: m1.small, image: webex-store-2026.11, count: 1}
volume_groups:
  - {name: boards, size_gb: 20, type: ssd, replicas: 2, attach_to: store}
"""


@cache
def plan(stack: str) -> dict[str, Any]:
    """The stack's plan rendered once per test session (every test reads, none changes it)."""
    return render_plan(stack, project_dir=REPO)


@pytest.fixture(scope="module")
def catalogs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The example project, and a copy whose catalog has one more service."""
    grown = ProjectCopy(tmp_path_factory.mktemp("grown") / "project")
    grown.write("catalog/whiteboard.yaml", GROWN_SERVICE)
    return {"example": REPO, "grown": grown.root}


@cache
def _render(root: Path, stack: str) -> tuple[dict[str, Any], Deployment]:
    return render_plan(stack, project_dir=root), load_deployment(root, stack)


def catalog_plan(catalogs: dict[str, Path], catalog: str, stack: str) -> tuple[dict[str, Any], Deployment]:
    """The plan of ``stack`` and the deployment (resolved catalog) it was rendered from."""
    return _render(catalogs[catalog], stack)


CATALOGS = pytest.mark.parametrize("catalog", ["example", "grown"])


def by_urn(stack: str) -> dict[str, dict[str, Any]]:
    return {r["urn"]: r for r in plan(stack)["resources"]}


def of_type(stack: str, kind: str) -> list[dict[str, Any]]:
    return [r for r in plan(stack)["resources"] if r["type"] == kind]


def pod_instances(stack: str) -> list[dict[str, Any]]:
    """Instances of catalog services (the controller pair's API proxies are not in a service subnet)."""
    services = plan(stack)["services"]
    return [i for i in of_type(stack, INSTANCE) if i["inputs"]["metadata"]["service"] in services]


@CATALOGS
@pytest.mark.parametrize("stack", ["dc1", "dc2"])
def test_every_pod_has_its_members_and_an_affinity_group(
    catalogs: dict[str, Path], catalog: str, stack: str
) -> None:
    rendered, deployment = catalog_plan(catalogs, catalog, stack)
    resources = {r["urn"]: r for r in rendered["resources"]}
    # What the catalog asks of this datacenter (a service restricted elsewhere is absent).
    expected = {
        s.service.name: (s.service.pods.count, sum(m.count for m in s.service.pods.members))
        for s in deployment.services
    }
    assert expected
    services = rendered["services"]
    assert {
        name: (len(s["pods"]), len(s["pods"][0]["instances"])) for name, s in services.items()
    } == expected
    for service in services.values():
        # One anti-affinity group of anchors per service, no per-pod group.
        assert {pod["server_group"] for pod in service["pods"]} == {service["pods"][0]["server_group"]}
        assert resources[service["pods"][0]["server_group"]]["inputs"]["policies"] == "anti-affinity"


@pytest.mark.parametrize("stack", ["dc1", "dc2"])
def test_instances_carry_the_hints_that_keep_pods_together_and_apart(stack: str) -> None:
    resources = by_urn(stack)
    for name, service in plan(stack)["services"].items():
        group_id = resources[service["pods"][0]["server_group"]]["id"]
        for pod in service["pods"]:
            key = f"{stack}/{name}/{pod['name']}"
            for index, urn in enumerate(pod["instances"]):
                inputs = resources[urn]["inputs"]
                (hint,) = inputs["schedulerHints"]
                assert hint["additionalProperties"] == {hints.NOVA_POD_HINT: key}
                # The anchor (first instance) joins the service group; the members are in none.
                assert hint.get("group") == (group_id if index == 0 else None)
                metadata = inputs["metadata"]
                assert metadata[hints.INSTANCE_SERVICE_METADATA_KEY] == f"{stack}/{name}"
                assert metadata[hints.INSTANCE_POD_METADATA_KEY] == key
                role = hints.ANCHOR_ROLE if index == 0 else hints.MEMBER_ROLE
                assert metadata[hints.INSTANCE_POD_ROLE_METADATA_KEY] == role
                # Only the first boot's user data (the log shipping, components/pod.py) is frozen; every
                # input the placement reads stays in the diff.
                assert resources[urn]["ignoreChanges"] == ["userData"]


@pytest.mark.parametrize("stack", ["dc1", "dc2"])
def test_every_hint_set_the_provider_hashes_carries_at_most_one_value(stack: str) -> None:
    """terraform-provider-openstack v3.4.0 ranges over the additional_properties Go map when it hashes
    a scheduler_hints element (resourceComputeSchedulerHintsHash, blockStorageVolumeV3SchedulerHintsHash):
    two distinct values make the hash random and an in-place change a replacement (review F1)."""
    checked = 0
    for resource in by_urn(stack).values():
        if resource["type"] not in (INSTANCE, VOLUME) or "schedulerHints" in resource["ignoreChanges"]:
            continue
        for hint in resource["inputs"].get("schedulerHints") or []:
            assert hints.distinct_values((hint.get("additionalProperties") or {}).values()) <= 1, resource[
                "urn"
            ]
            checked += 1
    assert checked > 20


@pytest.mark.parametrize("stack", ["dc1", "dc2"])
def test_no_pod_instance_input_depends_on_another_pod(stack: str) -> None:
    """Replacing one pod's resources must not make a sibling pod's inputs unknown (review F5): the
    engine marks a dependent's whole property unknown (pkg/resource/deploy/step_generator.go)."""
    resources = by_urn(stack)
    for service in plan(stack)["services"].values():
        for pod in service["pods"]:
            own = set(pod["instances"])
            others = {u for p in service["pods"] if p is not pod for u in p["instances"]}
            for urn in own:
                deps = {d for ds in resources[urn]["propertyDependencies"].values() for d in ds}
                assert not deps & others, urn
                assert resources[urn]["type"] == INSTANCE
            shared = {d for u in own for ds in resources[u]["propertyDependencies"].values() for d in ds}
            assert shared & {r["urn"] for r in resources.values() if r["type"] == GROUP} <= {
                pod["server_group"]
            }


def test_creation_is_chained_so_filters_see_placed_siblings() -> None:
    resources = by_urn("dc1")
    for service in plan("dc1")["services"].values():
        firsts = [pod["instances"][0] for pod in service["pods"]]
        gates = {r["name"]: urn for urn, r in resources.items() if r["type"] == GATE_TYPE}
        # The first pod waits for the controllers' filter rollout: no pod is placed by other filters.
        rollouts = [
            urn
            for urn, r in resources.items()
            if r["type"] == tokens.REMOTE_COMMAND and r["name"].endswith("-rollout")
        ]
        assert len(rollouts) == 2
        for index, pod in enumerate(service["pods"]):
            # Each later pod waits for the one before: its anchor, or, when a release wave starts with
            # it, the previous wave's health gate (which waits for every instance of that wave).
            wave = index // service["max_unavailable"]
            service_name = pod["name"].rsplit("-pod-", 1)[0]
            expected_first = (
                [gates[naming.gate(service_name, wave)]]
                if index and index % service["max_unavailable"] == 0
                else [firsts[index - 1]]
                if index
                else rollouts
            )
            assert resources[pod["instances"][0]]["dependsOn"] == expected_first
            for urn in pod["instances"][1:]:
                assert resources[urn]["dependsOn"] == [pod["instances"][0]]
        for group in service["volume_groups"]:
            for index, urn in enumerate(group["replicas"]):
                assert resources[urn]["dependsOn"] == ([group["replicas"][index - 1]] if index else [])


@CATALOGS
def test_volumes_are_protected_and_carry_the_diversity_contract(
    catalogs: dict[str, Path], catalog: str
) -> None:
    rendered, deployment = catalog_plan(catalogs, catalog, "dc1")
    volumes = [r for r in rendered["resources"] if r["type"] == VOLUME]
    assert len(volumes) == sum(g.replicas for s in deployment.services for g in s.service.volume_groups)
    assert volumes
    for volume in volumes:
        inputs = volume["inputs"]
        key = inputs["metadata"][hints.VOLUME_GROUP_METADATA_KEY]
        assert volume["protect"] is True
        assert inputs["schedulerHints"][0]["additionalProperties"][hints.CINDER_VOLUME_GROUP_HINT] == key
        assert key.startswith("dc1/")
    sizes = {v["name"]: (v["inputs"]["size"], v["inputs"]["volumeType"]) for v in volumes}
    assert sizes["recording-storage-recordings-2"] == (2048, "capacity")  # an example service's own


@CATALOGS
def test_replica_n_is_attached_to_pod_n(catalogs: dict[str, Path], catalog: str) -> None:
    rendered, deployment = catalog_plan(catalogs, catalog, "dc1")
    ids = {r["id"]: r for r in rendered["resources"]}
    attached = {
        ids[a["inputs"]["volumeId"]]["name"]: ids[a["inputs"]["instanceId"]]["name"]
        for a in rendered["resources"]
        if a["type"] == ATTACH
    }
    assert attached["messaging-messages-2"] == "messaging-pod-2-store-0"
    assert attached["recording-storage-search-index-1"] == "recording-storage-pod-1-indexer-0"
    assert len(attached) == sum(g.replicas for s in deployment.services for g in s.service.volume_groups)


@pytest.mark.parametrize("stack", ["dc1", "dc2"])
def test_subnets_are_disjoint_inside_the_pool_and_ports_use_them(stack: str) -> None:
    data = plan(stack)
    pool = ipaddress.ip_network(data["datacenter"]["cidr_pool"])
    subnets = {name: ipaddress.ip_network(s["subnet"]) for name, s in data["services"].items()}
    for name, subnet in subnets.items():
        assert subnet.subnet_of(pool)  # type: ignore[arg-type]
        assert not any(subnet.overlaps(o) for n, o in subnets.items() if n != name)
    ids = {r["id"]: r for r in data["resources"]}
    seen: set[str] = set()
    for instance in pod_instances(stack):
        port = ids[instance["inputs"]["networks"][0]["port"]]
        address = port["inputs"]["fixedIps"][0]["ipAddress"]
        assert ipaddress.ip_address(address) in subnets[instance["inputs"]["metadata"]["service"]]
        assert address not in seen
        seen.add(address)
        assert len(port["inputs"]["securityGroupIds"]) == 1


@CATALOGS
def test_both_stacks_deploy_the_same_shape_from_one_catalog(catalogs: dict[str, Path], catalog: str) -> None:
    def shape(stack: str) -> dict[str, Any]:
        return {
            n: ([len(p["instances"]) for p in s["pods"]], [len(g["replicas"]) for g in s["volume_groups"]])
            for n, s in catalog_plan(catalogs, catalog, stack)[0]["services"].items()
            if s["datacenters"] is None  # the catalog runs the others in some datacenters only
        }

    assert shape("dc1") and shape("dc1") == shape("dc2")
    assert not ipaddress.ip_network(plan("dc1")["datacenter"]["cidr_pool"]).overlaps(
        ipaddress.ip_network(plan("dc2")["datacenter"]["cidr_pool"])
    )


def test_security_group_rules_follow_the_catalog() -> None:
    rules = [r["inputs"] for r in of_type("dc1", RULE) if r["name"].startswith("meetings-media-")]
    # The service's own instances reach each other on any port, through the group itself.
    members = [r for r in rules if "remoteGroupId" in r]
    assert [(m["remoteGroupId"], m.get("protocol")) for m in members] == [
        (members[0]["securityGroupId"], None)
    ]
    rules = [r for r in rules if "remoteGroupId" not in r]
    # udp media and tcp/443 from any (IPv4 + IPv6), ssh from ops only, tcp/443 from the deploy runner
    # (the health gates' check port).
    assert len(rules) == 6
    runner = [r for r in rules if r["remoteIpPrefix"] == "10.250.1.20/32"]
    assert [(r["protocol"], r["portRangeMin"], r["portRangeMax"]) for r in runner] == [("tcp", 443, 443)]
    ssh = [r for r in rules if r.get("portRangeMin") == 22]
    assert [r["remoteIpPrefix"] for r in ssh] == ["10.250.1.0/24"]
    media = [r for r in rules if r["protocol"] == "udp"]
    assert {(r["portRangeMin"], r["portRangeMax"], r["ethertype"]) for r in media} == {
        (5004, 5999, "IPv4"),
        (5004, 5999, "IPv6"),
    }


def test_every_cloud_resource_uses_the_datacenters_explicit_provider() -> None:
    # The controllers' SSH rollout (command:remote:*) runs with the command provider, not on the cloud.
    custom = [r for r in plan("dc1")["resources"] if r["custom"] and r["type"].startswith("openstack:")]
    providers = {r["provider"].rsplit("::", 1)[0] for r in custom}
    assert providers == {
        "urn:pulumi:dc1::webex-cloud::webex:datacenter:Datacenter$pulumi:providers:openstack::dc1-openstack"
    }


def test_instances_carry_ownership_metadata() -> None:
    instances = of_type("dc1", INSTANCE)
    in_pods = pod_instances("dc1")
    assert instances and in_pods
    for instance in instances:
        metadata = instance["inputs"]["metadata"]
        pod = {"pod"} if instance in in_pods else set()
        assert {"service", "owner", "datacenter", "role", *pod} <= set(metadata)
        assert metadata["datacenter"] == "dc1"


def test_two_renders_are_byte_identical(tmp_path: Path) -> None:
    assert dumps(render_plan("dc1", project_dir=REPO)) == dumps(render_plan("dc1", project_dir=REPO))
    # Another process with another string-hash seed: no order may come from set or dict hashing.
    for seed in ("0", "4242"):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "webex_cloud",
                "plan",
                "--stack",
                "dc1",
                "--no-policy",
                "--out",
                str(tmp_path),
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        assert result.returncode == 0, result.stderr
        assert (tmp_path / "dc1.json").read_text() == dumps(plan("dc1")), f"PYTHONHASHSEED={seed}"


class EchoingMocks(capture.PlanMocks):
    """The mock engine as it was: every input echoed back as the resource's state."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return super().new_resource(args)[0], dict(args.inputs)


@pytest.mark.parametrize("stack", ["dc1", "dc2"])
def test_the_plan_is_the_one_the_sdk_renders_with_state_and_stack_traces(
    stack: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan skips work the SDK does for a real engine (the inputs sent back as state, the stack
    trace of every registration): what it records must be what that work gives, byte for byte."""
    fast = dumps(render_plan(stack, project_dir=REPO))
    traced: list[int] = []

    def with_traces() -> contextlib.AbstractContextManager[None]:
        traced.append(1)
        return contextlib.nullcontext()

    monkeypatch.setattr(capture, "PlanMocks", EchoingMocks)
    monkeypatch.setattr(capture, "_without_stack_traces", with_traces)
    assert dumps(render_plan(stack, project_dir=REPO)) == fast
    assert traced  # the SDK's own stack traces were taken in the second render


def test_adding_a_service_moves_no_existing_subnet(project: ProjectCopy) -> None:
    project.write(
        "catalog/whiteboard.yaml",
        (REPO / "catalog/meetings-signalling.yaml")
        .read_text()
        .replace("name: meetings-signalling", "name: whiteboard"),
    )
    before = {n: s["subnet"] for n, s in plan("dc1")["services"].items()}
    after = {n: s["subnet"] for n, s in render_plan("dc1", project_dir=project.root)["services"].items()}
    assert set(after) == set(before) | {"whiteboard"}
    assert {n: after[n] for n in before} == before


def test_invalid_catalog_registers_nothing(project: ProjectCopy) -> None:
    project.edit("catalog/messaging.yaml", lambda d: d["pods"].update(count=0))
    with pytest.raises(CatalogError, match=r"catalog/messaging.yaml: pods.count"):
        render_plan("dc1", project_dir=project.root)
    # The program itself refuses too (as under `pulumi up`), before registering any resource.
    with pytest.raises(CatalogError, match=r"pods.count"):
        run_program(project.root, "dc1")


def test_plan_command_writes_json_and_summary(tmp_path: Any) -> None:
    result = run_plan("--stack", "dc2", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "messaging" in result.stdout and "messages x3" in result.stdout
    assert json.loads((tmp_path / "dc2.json").read_text())["stack"] == "dc2"


def test_plan_command_reports_bad_input_without_traceback(project: ProjectCopy) -> None:
    project.edit("catalog/messaging.yaml", lambda d: d["pods"]["members"][1].update(count=-1))
    result = run_plan("--project", str(project.root))
    assert result.returncode == ExitCode.INPUT
    assert "catalog/messaging.yaml: pods.members[1].count" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (project.root / "build").exists()


def test_pods_spread_over_availability_zones() -> None:
    zones: dict[str, set[str]] = defaultdict(set)
    instances = of_type("dc1", INSTANCE)
    assert instances
    for instance in instances:
        zones[instance["inputs"]["metadata"]["service"]].add(instance["inputs"]["availabilityZone"])
    assert all(z == {"dc1-az1", "dc1-az2"} for z in zones.values())


def test_one_invalid_stack_writes_no_plan_at_all(project: ProjectCopy) -> None:
    project.edit_datacenter("dc2", lambda d: d.update(cidr_pool="10.20.0.0/30", subnets={}))
    result = run_plan("--project", str(project.root))
    assert result.returncode == ExitCode.INPUT
    assert "dc2: invalid configuration" in result.stderr
    assert not (project.root / "build").exists()


def test_plan_without_stacks_is_an_error(tmp_path: Any) -> None:
    result = run_plan("--project", str(tmp_path))
    assert result.returncode == 2
    assert "no stack config" in result.stderr
