"""The monitoring pair a stack deploys (``monitoring.instances``): two instances apart on the management
network, booted with the generated monitoring, checked before anything is registered."""

from __future__ import annotations

import base64
import json
import random
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, ProjectCopy
from tests.monitoring.tools import boot_files
from webex_cloud.commands.monitoring import generate
from webex_cloud.commands.plan import main as plan_main
from webex_cloud.config.errors import CatalogError
from webex_cloud.config.loader import load_deployment
from webex_cloud.monitoring import node
from webex_cloud.plan.document import render_plan

INSTANCE = "openstack:compute/instance:Instance"
GROUP = "openstack:compute/serverGroup:ServerGroup"
PORT = "openstack:networking/port:Port"
RULE = "openstack:networking/secGroupRule:SecGroupRule"
PAIR = "webex:monitoring:MonitoringPair"


@cache
def plan(stack: str) -> dict[str, Any]:
    return render_plan(stack, project_dir=REPO)


def pair_resources(document: dict[str, Any]) -> list[dict[str, Any]]:
    (pair,) = [r for r in document["resources"] if r["type"] == PAIR]
    return [r for r in document["resources"] if r["parent"] == pair["urn"]]


@pytest.mark.parametrize("stack", ["dc1", "dc2"])
def test_the_pair_is_two_instances_apart_at_the_nodes_addresses(stack: str) -> None:
    monitoring = load_deployment(REPO, stack).datacenter.monitoring
    assert monitoring is not None and monitoring.instances is not None
    resources = pair_resources(plan(stack))
    (group,) = [r for r in resources if r["type"] == GROUP]
    assert group["inputs"]["policies"] == "anti-affinity"
    instances = [r for r in resources if r["type"] == INSTANCE]
    ports = {r["id"]: r for r in resources if r["type"] == PORT}
    assert len(instances) == 2
    for index, instance in enumerate(instances):
        assert instance["inputs"]["schedulerHints"] == [{"group": group["id"]}]
        assert instance["inputs"]["metadata"]["role"] == "monitoring"
        assert instance["inputs"]["flavorName"] == monitoring.instances.flavor
        (network,) = instance["inputs"]["networks"]
        fixed = ports[network["port"]]["inputs"]["fixedIps"]
        assert [ip["ipAddress"] for ip in fixed] == [str(monitoring.nodes[index])]
        # A rule change is reloaded (monitoring --reload), never a rebuild of the node.
        assert instance["ignoreChanges"] == ["userData"]
    # A replacement reuses the node's port: delete first, one node at a time.
    assert all(i["deleteBeforeReplace"] for i in instances)
    assert instances[0]["urn"] in instances[1]["dependsOn"]
    # Partners scrape each other and the Alertmanagers gossip, from the management network only.
    rules = {
        (r["inputs"]["protocol"], r["inputs"]["portRangeMin"], r["inputs"]["remoteIpPrefix"])
        for r in resources
        if r["type"] == RULE
    }
    management = str(load_deployment(REPO, stack).datacenter.controllers.management.cidr)
    # SSH too: the deploy runner, on the management network, reloads the rules through it.
    assert rules == {("tcp", port, management) for port in (9090, 9093, 9115, 9100, 9094, 22)} | {
        ("udp", 9094, management)
    }


def test_each_node_boots_with_the_generated_files_and_its_partner() -> None:
    generated = generate(REPO, "dc1")
    instances = [r for r in pair_resources(plan("dc1")) if r["type"] == INSTANCE]
    for instance, (own, peer) in zip(
        instances, [("10.250.1.15", "10.250.1.16"), ("10.250.1.16", "10.250.1.15")], strict=True
    ):
        files = boot_files(instance["inputs"]["userData"])
        shipped = {
            path.removeprefix(f"{node.STAGING}/prometheus/"): text
            for path, text in files.items()
            if path.startswith(f"{node.STAGING}/prometheus/")
        }
        # Exactly what `monitoring --stack dc1` writes, less the promtool unit tests.
        assert shipped == {name: text for name, text in generated.items() if not name.endswith(".test.yml")}
        assert "rules/scheduling.rules.yml" in shipped
        defaults = files[f"{node.STAGING}/default/prometheus-alertmanager"]
        # Each gossips with the other, advertising its own address: the management network need not
        # carry the node's default route, without which Alertmanager could pick no address to advertise.
        assert defaults == f'ARGS="--cluster.advertise-address={own}:9094 --cluster.peer={peer}:9094"\n'
        assert "--web.enable-lifecycle" in files[f"{node.STAGING}/default/prometheus"]
        document = yaml.safe_load(instance["inputs"]["userData"])
        # dc1 ships its logs over TLS (monitoring.logs): rsyslog and its TLS driver come with the node.
        assert document["packages"] == [*node.PACKAGES, "curl", "sudo", "rsyslog", "rsyslog-gnutls"]
        # The deploy's login: the stack's deploy key only, no password, owning the generated files' folders.
        deploy_key = load_deployment(REPO, "dc1").datacenter.monitoring.instances.deploy_key  # type: ignore[union-attr]
        login = document["users"][1]
        assert login["name"] == "webex-deploy" and not any("passw" in key for key in login)
        assert login["ssh_authorized_keys"] == [deploy_key]
        assert ["chown", "webex-deploy", "/etc/prometheus", "/etc/prometheus/rules"] in document["runcmd"]
        # No secret in the user data: receivers name files on the node, never keys.
        assert "routing_key:" not in shipped["alertmanager.yml"]


def test_user_data_too_large_for_nova_is_refused_with_the_limit() -> None:
    # Bytes gzip cannot shrink: about 80 KB once in the user data.
    noise = {"rules/noise.rules.yml": base64.b64encode(random.Random(0).randbytes(60_000)).decode()}
    with pytest.raises(node.UserDataTooLarge, match="more than Nova's 65535"):
        node.user_data(noise, node.Peering("10.250.1.15", "10.250.1.16"), "ssh-ed25519 AAAAfake")


def test_a_stack_without_instances_deploys_no_pair(project: ProjectCopy) -> None:
    project.edit_datacenter("dc1", lambda dc: dc["monitoring"].pop("instances"))
    document = render_plan("dc1", project_dir=project.root)
    assert not [r for r in document["resources"] if r["type"] == PAIR]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda m: m["instances"].update(flavor="m9.huge"), "monitoring.instances.flavor"),
        (lambda m: m["instances"].update(image="debian-13"), "monitoring.instances.image"),
        (lambda m: m.update(nodes=["10.250.1.15"]), "monitoring.nodes"),
        (lambda m: m["instances"].pop("deploy_key"), "monitoring.instances.deploy_key"),
        (lambda m: m["instances"].update(deploy_key="-----BEGIN OPENSSH PRIVATE KEY-----"), "deploy_key"),
        (lambda m: m.update(nodes=["10.250.1.13", "10.250.1.16"]), "monitoring.nodes[0]"),
    ],
)
def test_an_unusable_pair_is_refused_naming_the_field(project: ProjectCopy, change: Any, field: str) -> None:
    project.edit_datacenter("dc1", lambda dc: change(dc["monitoring"]))
    with pytest.raises(CatalogError, match="stacks/Pulumi.dc1.yaml.*" + re.escape(field)):
        load_deployment(project.root, "dc1")


def test_a_deploy_runner_outside_the_management_network_reaches_ssh_and_prometheus_only(
    project: ProjectCopy, tmp_path: Path
) -> None:
    """Issue 25: the release gates query the nodes' Prometheus (9090) from the deploy runner, which also
    reloads them over SSH (22). On the management network the pair's rules already admit it (the example
    stacks: nothing added); elsewhere exactly its own range, on those two ports; the policy pack passes."""
    project.edit_datacenter("dc1", lambda dc: dc["sources"].update({"deploy-runner": ["10.250.9.7/32"]}))

    assert plan_main(["--stack", "dc1", "--project", str(project.root), "--out", str(tmp_path)]) == 0

    planned = json.loads((tmp_path / "dc1.json").read_text())["resources"]
    (pair,) = [r for r in planned if r["type"] == PAIR]
    from_runner = {
        (r["inputs"]["protocol"], r["inputs"]["portRangeMin"], r["inputs"]["portRangeMax"])
        for r in planned
        if r["type"] == RULE
        and r["parent"] == pair["urn"]
        and r["inputs"]["remoteIpPrefix"] == "10.250.9.7/32"
    }
    assert from_runner == {("tcp", 22, 22), ("tcp", 9090, 9090)}
    # The example stacks' runner is on the management network: the pair's rules already admit it.
    in_example = {r["inputs"]["remoteIpPrefix"] for r in pair_resources(plan("dc1")) if r["type"] == RULE}
    assert in_example == {str(load_deployment(REPO, "dc1").datacenter.controllers.management.cidr)}
