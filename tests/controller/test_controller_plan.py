"""The controller pair in the offline plan of the real program: API front, Octavia variant, rollout chain."""

from __future__ import annotations

import runpy
from functools import cache
from typing import Any

import pulumi
import pytest
from pulumi.runtime import rpc

from tests.conftest import REPO, ProjectCopy
from webex_cloud.config.errors import CatalogError
from webex_cloud.config.image_ids import ENVIRONMENT as IMAGE_IDS
from webex_cloud.config.image_ids import STAND_IN
from webex_cloud.config.loader import load_deployment
from webex_cloud.controller.filter_release import build_release
from webex_cloud.plan import capture
from webex_cloud.plan.capture import _engine_config, run_under_mocks
from webex_cloud.plan.document import render_plan
from webex_cloud.plan.format import dumps

INSTANCE = "openstack:compute/instance:Instance"
GROUP = "openstack:compute/serverGroup:ServerGroup"
PORT = "openstack:networking/port:Port"
RULE = "openstack:networking/secGroupRule:SecGroupRule"
COMMAND = "command:remote:Command"
COPY = "command:remote:CopyToRemote"
LB = "openstack:loadbalancer/loadBalancer:LoadBalancer"
LISTENER = "openstack:loadbalancer/listener:Listener"
POOL = "openstack:loadbalancer/pool:Pool"
MEMBERS = "openstack:loadbalancer/members:Members"
MONITOR = "openstack:loadbalancer/monitor:Monitor"
PAIR = "webex:controller:ControllerPair"


NOT_THE_RELEASE = ("-read-script", "-reader-key", "-rsyslog-conf", "-rsyslog-check")
"""The staged copies that are not the filter release's: the drift reader's and the log shipping's."""


@cache
def plan(stack: str) -> dict[str, Any]:
    return render_plan(stack, project_dir=REPO)


def pair_resources(document: dict[str, Any]) -> list[dict[str, Any]]:
    (pair,) = [r for r in document["resources"] if r["type"] == PAIR]
    return [r for r in document["resources"] if r["parent"] == pair["urn"]]


def of_type(resources: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in resources if r["type"] == kind]


@pytest.mark.parametrize("stack", ["dc1", "dc2"])
def test_proxies_are_a_hard_anti_affinity_pair_holding_the_vip(stack: str) -> None:
    document = plan(stack)
    plane = load_deployment(REPO, stack).datacenter.controllers
    assert plane.proxies is not None
    resources = pair_resources(document)
    (group,) = of_type(resources, GROUP)
    assert group["inputs"]["policies"] == "anti-affinity"
    proxies = of_type(resources, INSTANCE)
    assert len(proxies) == 2
    ports = {r["id"]: r for r in of_type(resources, PORT)}
    for index, proxy in enumerate(proxies):
        assert proxy["inputs"]["schedulerHints"] == [{"group": group["id"]}]
        assert proxy["inputs"]["metadata"]["role"] == "controller"
        (network,) = proxy["inputs"]["networks"]
        port = ports[network["port"]]
        assert [ip["ipAddress"] for ip in port["inputs"]["fixedIps"]] == [str(plane.proxies.addresses[index])]
        assert port["inputs"]["allowedAddressPairs"] == [{"ipAddress": str(plane.vip)}]
        for host in plane.hosts:  # HAProxy forwards to both controllers
            assert f"server {host.name} {host.address}:5000" in proxy["inputs"]["userData"]
    # A proxy replacement reuses its port: delete first, one proxy at a time.
    assert all(p["deleteBeforeReplace"] for p in proxies)
    assert proxies[0]["urn"] in proxies[1]["dependsOn"]
    vip_ports = [p for p in ports.values() if not p["inputs"].get("allowedAddressPairs")]
    assert [[ip["ipAddress"] for ip in p["inputs"]["fixedIps"]] for p in vip_ports] == [[str(plane.vip)]]


def test_only_the_api_sources_reach_the_api_ports_and_only_the_proxies_speak_vrrp() -> None:
    resources = pair_resources(plan("dc1"))
    rules = [r["inputs"] for r in of_type(resources, RULE)]
    api = sorted((r["portRangeMin"], r["remoteIpPrefix"]) for r in rules if r["protocol"] == "tcp")
    assert api == [(port, "10.250.1.0/24") for port in (5000, 8774, 8776, 8778, 9292, 9696)]
    (vrrp,) = [r for r in rules if r["protocol"] == "112"]
    assert vrrp["remoteGroupId"] == vrrp["securityGroupId"]


def octavia_plan(project: ProjectCopy) -> dict[str, Any]:
    def to_octavia(dc: dict[str, Any]) -> None:
        dc["controllers"]["octavia"] = True
        del dc["controllers"]["proxies"]

    project.edit_datacenter("dc1", to_octavia)
    return render_plan("dc1", project_dir=project.root)


def test_octavia_variant_balances_every_api_port_over_both_controllers(project: ProjectCopy) -> None:
    resources = pair_resources(octavia_plan(project))
    plane = load_deployment(project.root, "dc1").datacenter.controllers
    assert of_type(resources, INSTANCE) == [] and of_type(resources, GROUP) == []
    (balancer,) = of_type(resources, LB)
    assert balancer["inputs"]["vipAddress"] == str(plane.vip)
    listeners = {r["id"]: r for r in of_type(resources, LISTENER)}
    assert sorted(r["inputs"]["protocolPort"] for r in listeners.values()) == sorted(plane.api_ports)
    assert all(r["inputs"]["loadbalancerId"] == balancer["id"] for r in listeners.values())
    assert all(r["inputs"]["allowedCidrs"] == ["10.250.1.0/24"] for r in listeners.values())
    pools = {r["id"]: r for r in of_type(resources, POOL)}
    assert sorted(p["inputs"]["listenerId"] for p in pools.values()) == sorted(listeners)
    for members in of_type(resources, MEMBERS):
        port = listeners[pools[members["inputs"]["poolId"]]["inputs"]["listenerId"]]["inputs"]["protocolPort"]
        assert sorted((m["address"], m["protocolPort"]) for m in members["inputs"]["members"]) == [
            (str(h.address), port) for h in plane.hosts
        ]
    monitors = of_type(resources, MONITOR)
    assert sorted(m["inputs"]["poolId"] for m in monitors) == sorted(pools)
    assert {m["inputs"]["type"] for m in monitors} == {"TCP"}


def test_octavia_variant_still_rolls_the_filters_out(project: ProjectCopy) -> None:
    commands = [r["name"] for r in of_type(pair_resources(octavia_plan(project)), COMMAND)]
    assert sorted(commands) == [
        f"dc1-controllers-dc1-ctl-0{n}-{what}" for n in (1, 2) for what in ("drift-reader", "logs", "rollout")
    ]


@pytest.mark.parametrize("stack", ["dc1", "dc2"])
def test_rollout_is_chained_and_triggered_by_the_release_hashes(stack: str) -> None:
    resources = pair_resources(plan(stack))
    datacenter = load_deployment(REPO, stack).datacenter
    release = build_release(failure_domains=datacenter.failure_domains)  # as __main__.py builds it
    hosts = [h.name for h in datacenter.controllers.hosts]
    first, second = (
        next(r for r in of_type(resources, COMMAND) if r["name"].endswith(f"{h}-rollout")) for h in hosts
    )
    assert first["urn"] in second["dependsOn"]
    assert release.wheel.sha256 in first["inputs"]["triggers"]
    assert release.wheel.sha256 in second["inputs"]["triggers"]
    for name in release.fragments:
        assert release.fragment_sha256(name) in first["inputs"]["triggers"]
    assert f"--sha256 {release.wheel.sha256}" in first["inputs"]["create"]
    assert first["inputs"]["create"] == first["inputs"]["update"]
    # Controller 2 receives nothing, not even staged files, before controller 1's rollout succeeded.
    copies_2 = [r for r in of_type(resources, COPY) if hosts[1] in r["name"]]
    release_2 = [c for c in copies_2 if not c["name"].endswith(NOT_THE_RELEASE)]
    assert len(release_2) == 5 and all(first["urn"] in c["dependsOn"] for c in release_2)
    # the drift reader's and the logs' files: after that controller's own rollout (after controller 1's)
    assert all(second["urn"] in c["dependsOn"] for c in copies_2 if c not in release_2)
    copies_1 = [
        r
        for r in of_type(resources, COPY)
        if hosts[0] in r["name"] and not r["name"].endswith(NOT_THE_RELEASE)
    ]
    assert {c["urn"] for c in copies_1} <= set(first["dependsOn"])
    (wheel_copy,) = [c for c in copies_1 if c["name"].endswith("-wheel")]
    assert wheel_copy["inputs"]["source"]["path"] == f"build/controller/{release.wheel.filename}"


@pytest.mark.parametrize("stack", ["dc1", "dc2"])
def test_the_log_drop_in_goes_to_one_controller_at_a_time_after_its_rollout(stack: str) -> None:
    resources = pair_resources(plan(stack))
    hosts = [h.name for h in load_deployment(REPO, stack).datacenter.controllers.hosts]
    commands = {r["name"]: r for r in of_type(resources, COMMAND)}
    rollouts = [next(r for n, r in commands.items() if n.endswith(f"{h}-rollout")) for h in hosts]
    installs = [next(r for n, r in commands.items() if n.endswith(f"{h}-logs")) for h in hosts]
    for host, rollout, install in zip(hosts, rollouts, installs, strict=True):
        assert rollout["urn"] in install["dependsOn"]
        mine = [c for c in of_type(resources, COPY) if host in c["name"] and "-rsyslog-" in c["name"]]
        assert len(mine) == 2 and {c["urn"] for c in mine} <= set(install["dependsOn"])
        assert all(rollout["urn"] in c["dependsOn"] for c in mine)
        # The check runs before the install: the script refuses a drop-in rsyslogd refuses (test_log_install).
        assert " logs --from " in install["inputs"]["create"]
        assert "--check-with " in install["inputs"]["create"]
    # Controller 2 gets nothing of it before controller 1's install succeeded.
    second = [c for c in of_type(resources, COPY) if hosts[1] in c["name"] and "-rsyslog-" in c["name"]]
    assert all(installs[0]["urn"] in c["dependsOn"] for c in second)
    assert installs[0]["urn"] in installs[1]["dependsOn"]


def test_an_unchanged_source_renders_the_same_rollout() -> None:
    again = render_plan("dc1", project_dir=REPO)
    assert dumps(again) == dumps(plan("dc1"))


def test_the_rollouts_name_no_private_key_and_authenticate_with_the_agent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The connections pulumi-command stores in the checkpoint carry no key: a stack secret would be
    decryptable by every holder of the stack's passphrase, previews included (issue 22)."""
    connections: list[dict[str, Any]] = []

    class Recording(capture.PlanMocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
            if args.typ in (COMMAND, COPY):
                connections.append(dict(args.inputs["connection"]))
            return super().new_resource(args)

    monkeypatch.setattr(capture, "PlanMocks", Recording)
    # The program run directly, as the engine runs it, with the offline plan's stand-in image ids.
    monkeypatch.setenv(IMAGE_IDS, STAND_IN)
    config, secrets = _engine_config(REPO, "dc1")

    def program() -> None:
        runpy.run_path(str(REPO / "__main__.py"), run_name="__main__")

    registrations = run_under_mocks(program, "dc1", config, secrets)
    # per controller: 5 copies and the rollout; 2 copies and the drift reader's install (dc1 names one);
    # 2 copies and the rsyslog drop-in's install (dc1 has monitoring.logs)
    assert len(connections) == len([r for r in registrations if r.type in (COMMAND, COPY)]) == 24
    for wrapped in connections:
        # pulumi-command marks the whole connection secret (the wire's secret signature around it).
        assert wrapped[rpc._special_sig_key] == rpc._special_secret_sig
        connection = wrapped["value"]
        assert connection["user"] == "deploy" and connection["host"].startswith("10.250.1.")
        assert not {"privateKey", "privateKeyPassword", "password", "agentSocketPath"} & set(connection)


def test_a_deploy_key_in_the_stack_config_stops_the_program(project: ProjectCopy) -> None:
    """Even encrypted: the loader refuses it before any resource is registered, and says where it goes."""
    project.edit(
        "stacks/Pulumi.dc1.yaml",
        lambda doc: doc["config"].update({"webex-cloud:controllerSshKey": {"secure": "v1:abc"}}),
    )
    with pytest.raises(CatalogError) as error:
        load_deployment(project.root, "dc1")
    (problem,) = error.value.problems
    assert problem.field == "config.webex-cloud:controllerSshKey"
    assert "pulumi config rm --stack dc1 webex-cloud:controllerSshKey" in problem.message
    assert "CONTROLLER_SSH_KEY of the GitHub environment production-dc1" in problem.message


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c.pop("proxies"), "proxies: required when octavia is false"),
        (lambda c: c.update(vip="10.99.0.1"), "vip: 10.99.0.1 is outside management.cidr 10.250.1.0/24"),
        (
            lambda c: c["proxies"].update(flavor="m9.huge"),
            "controllers.proxies.flavor: 'm9.huge' is not offered",
        ),
        (
            lambda c: c.update(api_sources=["nowhere"]),
            "controllers.api_sources[0]: unknown source 'nowhere'",
        ),
        (
            lambda c: c["proxies"].update(addresses=["10.250.1.11", "10.250.1.14"]),
            "hosts[0].address: 10.250.1.11 is already used by proxies.addresses[0]",
        ),
    ],
)
def test_a_wrong_controller_section_is_reported_before_anything_runs(
    project: ProjectCopy, change: Any, message: str
) -> None:
    project.edit_datacenter("dc1", lambda dc: change(dc["controllers"]))
    with pytest.raises(CatalogError) as caught:
        render_plan("dc1", project_dir=project.root)
    assert message in str(caught.value)


def test_an_ipv6_only_api_source_is_rejected_naming_the_field(project: ProjectCopy) -> None:
    def v6_only(dc: dict[str, Any]) -> None:
        dc["sources"]["ops-v6"] = ["fd00:250::/64"]
        dc["controllers"]["api_sources"] = ["ops", "ops-v6"]

    project.edit_datacenter("dc1", v6_only)
    with pytest.raises(CatalogError) as caught:
        render_plan("dc1", project_dir=project.root)
    message = str(caught.value)
    assert "stacks/Pulumi.dc1.yaml: config.webex-cloud:datacenter.controllers.api_sources[1]" in message
    assert "source 'ops-v6' holds no IPv4 prefix (fd00:250::/64)" in message
    assert "Traceback" not in message


def test_an_api_source_problem_is_reported_with_the_catalogs_in_one_run(project: ProjectCopy) -> None:
    def v6_only(dc: dict[str, Any]) -> None:
        dc["sources"]["ops-v6"] = ["fd00:250::/64"]
        dc["controllers"]["api_sources"] = ["ops-v6"]

    project.edit_datacenter("dc1", v6_only)
    project.edit("catalog/messaging.yaml", lambda doc: doc["pods"]["members"][0].update(count=-1))
    with pytest.raises(CatalogError) as caught:
        render_plan("dc1", project_dir=project.root)
    message = str(caught.value)
    assert message.count("invalid configuration") == 1
    assert message.startswith("invalid configuration (2 problems); nothing was changed:")
    assert (
        "stacks/Pulumi.dc1.yaml: config.webex-cloud:datacenter.controllers.api_sources[0]: source 'ops-v6'"
        in (message)
    )
    assert "catalog/messaging.yaml: pods.members[0].count" in message


def test_an_ipv6_only_api_source_is_rejected_with_octavia_too(project: ProjectCopy) -> None:
    def v6_only(dc: dict[str, Any]) -> None:
        dc["sources"]["ops-v6"] = ["fd00:250::/64"]
        dc["controllers"].update(api_sources=["ops-v6"], octavia=True)
        del dc["controllers"]["proxies"]

    project.edit_datacenter("dc1", v6_only)
    with pytest.raises(CatalogError, match=r"controllers\.api_sources\[0\]: source 'ops-v6'"):
        render_plan("dc1", project_dir=project.root)


def test_a_dual_stack_api_source_grants_its_ipv4_prefixes(project: ProjectCopy) -> None:
    def dual(dc: dict[str, Any]) -> None:
        dc["sources"]["ops-dual"] = ["10.250.9.0/24", "fd00:250::/64"]
        dc["controllers"]["api_sources"] = ["ops", "ops-dual"]

    project.edit_datacenter("dc1", dual)
    resources = pair_resources(render_plan("dc1", project_dir=project.root))
    rules = [r["inputs"] for r in of_type(resources, RULE) if r["inputs"]["protocol"] == "tcp"]
    assert {r["ethertype"] for r in rules} == {"IPv4"}
    assert sorted({r["remoteIpPrefix"] for r in rules}) == ["10.250.1.0/24", "10.250.9.0/24"]
    assert len(rules) == 2 * 6


def test_the_rollout_keeps_the_sites_own_filters(project: ProjectCopy) -> None:
    """A site that runs more filters than the upstream defaults (e.g. PCI passthrough for media
    servers) keeps them: the fragment is its list plus ours, never the defaults instead."""
    site = ["ComputeFilter", "PciPassthroughFilter", "ServerGroupAffinityFilter"]
    project.edit_datacenter(
        "dc1", lambda dc: dc["controllers"].setdefault("deploy", {}).update(nova_filters=site)
    )
    plan = render_plan("dc1", project_dir=project.root)
    nova = next(r for r in plan["resources"] if r["name"] == "dc1-controllers-dc1-ctl-01-fragment-nova")
    text = nova["inputs"]["source"]["text"]
    assert "enabled_filters = ComputeFilter,PciPassthroughFilter,ServerGroupAffinityFilter," in text
    assert text.rstrip().endswith("PodFilter")
