"""The real program rendered under the mock engine: what each datacenter stack would deploy."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from collections import defaultdict
from functools import cache
from typing import Any

import pytest
from webex_scheduler_filters import hints

from tests.conftest import REPO, ProjectCopy
from webex_cloud.components.pod import SIBLING_HINT_PATH
from webex_cloud.config.errors import CatalogError
from webex_cloud.exit_codes import ExitCode
from webex_cloud.plan.capture import run_program
from webex_cloud.plan.document import render_plan
from webex_cloud.plan.format import dumps

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


@cache
def plan(stack: str) -> dict[str, Any]:
    return render_plan(stack, project_dir=REPO)


def by_urn(stack: str) -> dict[str, dict[str, Any]]:
    return {r["urn"]: r for r in plan(stack)["resources"]}


def of_type(stack: str, kind: str) -> list[dict[str, Any]]:
    return [r for r in plan(stack)["resources"] if r["type"] == kind]


def pod_instances(stack: str) -> list[dict[str, Any]]:
    """Instances of catalog services (the controller pair's API proxies are not in a service subnet)."""
    services = plan(stack)["services"]
    return [i for i in of_type(stack, INSTANCE) if i["inputs"]["metadata"]["service"] in services]


@pytest.mark.parametrize("stack", ["dc1", "dc2"])
def test_every_pod_has_its_members_and_an_affinity_group(stack: str) -> None:
    resources = by_urn(stack)
    expected = {
        "meetings-media": (4, 3),
        "meetings-signalling": (3, 3),
        "messaging": (3, 3),
        "recording-storage": (3, 2),
        "telepresence-gateway": (2, 1),
    }
    if stack == "dc2":
        del expected["telepresence-gateway"]  # the catalog runs it in dc1 only
    services = plan(stack)["services"]
    assert {
        name: (len(s["pods"]), len(s["pods"][0]["instances"])) for name, s in services.items()
    } == expected
    for service in services.values():
        for pod in service["pods"]:
            assert resources[pod["server_group"]]["inputs"]["policies"] == "affinity"


@pytest.mark.parametrize("stack", ["dc1", "dc2"])
def test_instances_carry_the_hints_that_keep_pods_together_and_apart(stack: str) -> None:
    resources = by_urn(stack)
    for name, service in plan(stack)["services"].items():
        group_ids = [resources[pod["server_group"]]["id"] for pod in service["pods"]]
        for index, pod in enumerate(service["pods"]):
            for urn in pod["instances"]:
                (hint,) = resources[urn]["inputs"]["schedulerHints"]
                props = hint["additionalProperties"]
                assert hint["group"] == group_ids[index]
                assert props[hints.NOVA_SERVICE_HINT] == f"{stack}/{name}"
                assert props[hints.NOVA_POD_HINT] == pod["name"]
                siblings = hints.split_list(props[hints.NOVA_SIBLING_GROUPS_HINT])
                assert sorted(siblings) == sorted(g for i, g in enumerate(group_ids) if i != index)
                # Scaling the service must not recreate running instances through this hint.
                assert resources[urn]["ignoreChanges"] == [SIBLING_HINT_PATH]


def test_creation_is_chained_so_filters_see_placed_siblings() -> None:
    resources = by_urn("dc1")
    for service in plan("dc1")["services"].values():
        firsts = [pod["instances"][0] for pod in service["pods"]]
        for index, pod in enumerate(service["pods"]):
            expected_first = [firsts[index - 1]] if index else []
            assert resources[pod["instances"][0]]["dependsOn"] == expected_first
            for urn in pod["instances"][1:]:
                assert resources[urn]["dependsOn"] == [pod["instances"][0]]
        for group in service["volume_groups"]:
            for index, urn in enumerate(group["replicas"]):
                assert resources[urn]["dependsOn"] == ([group["replicas"][index - 1]] if index else [])


def test_volumes_are_protected_and_carry_the_diversity_contract() -> None:
    volumes = of_type("dc1", VOLUME)
    assert len(volumes) == 8
    for volume in volumes:
        inputs = volume["inputs"]
        key = inputs["metadata"][hints.VOLUME_GROUP_METADATA_KEY]
        assert volume["protect"] is True
        assert inputs["schedulerHints"][0]["additionalProperties"][hints.CINDER_VOLUME_GROUP_HINT] == key
        assert key.startswith("dc1/")
    sizes = {v["name"]: (v["inputs"]["size"], v["inputs"]["volumeType"]) for v in volumes}
    assert sizes["recording-storage-recordings-2"] == (2048, "capacity")


def test_replica_n_is_attached_to_pod_n() -> None:
    resources = by_urn("dc1")
    ids = {r["id"]: r for r in resources.values()}
    attached = {
        ids[a["inputs"]["volumeId"]]["name"]: ids[a["inputs"]["instanceId"]]["name"]
        for a in of_type("dc1", ATTACH)
    }
    assert attached["messaging-messages-2"] == "messaging-pod-2-store-0"
    assert attached["recording-storage-search-index-1"] == "recording-storage-pod-1-indexer-0"
    assert len(attached) == 8


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


def test_both_stacks_deploy_the_same_shape_from_one_catalog() -> None:
    def shape(stack: str) -> dict[str, Any]:
        return {
            n: ([len(p["instances"]) for p in s["pods"]], [len(g["replicas"]) for g in s["volume_groups"]])
            for n, s in plan(stack)["services"].items()
            if n != "telepresence-gateway"
        }

    assert shape("dc1") == shape("dc2")
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
    # udp media and tcp/443 from any (IPv4 + IPv6), ssh from ops only.
    assert len(rules) == 5
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
    for instance in of_type("dc1", INSTANCE):
        metadata = instance["inputs"]["metadata"]
        pod = {"pod"} if instance in pod_instances("dc1") else set()
        assert {"service", "owner", "datacenter", "role", *pod} <= set(metadata)
        assert metadata["datacenter"] == "dc1"


def test_two_renders_are_byte_identical() -> None:
    assert dumps(render_plan("dc1", project_dir=REPO)) == dumps(render_plan("dc1", project_dir=REPO))


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
    for instance in of_type("dc1", INSTANCE):
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
