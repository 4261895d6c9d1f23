"""The real pack, started as the CLI starts it, judging plans rendered from the example catalog.

Every policy has a passing case (the example stacks) and at least one failing case. Where the
catalog or the stack config can express the fault, the test edits them and renders the plan with
the real program. Several faults cannot be rendered at all, because the loader or the components
refuse them (an unprotected volume, an overlapping subnet, a misspelled server group policy...):
the policies are the second line of defence against a component regression, so those cases take
a plan rendered from the example catalog and change one rendered resource the way the regressed
component would (:func:`regress`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, ProjectCopy
from webex_cloud.commands import policy as policy_cli
from webex_cloud.commands.pipeline import check_plans
from webex_cloud.config.loader import DATACENTER_KEY, parse_datacenter, read_stack_config
from webex_cloud.plan import format as plan_format
from webex_cloud.plan.document import render_plan
from webex_cloud.policy_check import PolicyChecker, PolicyRun, UnknownInput, Unknowns
from webex_cloud.policy_check.config import PolicyConfigError

Plan = dict[str, Any]


@pytest.fixture(scope="session")
def checker() -> Iterator[PolicyChecker]:
    with PolicyChecker(REPO / "policies") as running:
        yield running


def host_key(address: str) -> str:
    return f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITestOnly{address.replace('.', '')} root@{address}"


def pin_host_keys(project: ProjectCopy) -> None:
    """Set every controller's SSH host key in the copy's stack files, as operators are asked to
    (the example stacks carry example keys; a stack without them is refused, see below)."""
    for stack in ("dc1", "dc2"):
        project.edit_datacenter(
            stack, lambda dc: [h.update(host_key=host_key(h["address"])) for h in dc["controllers"]["hosts"]]
        )


@pytest.fixture(scope="session")
def example(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Plan]:
    """The example stacks with pinned controller host keys: they pass every policy."""
    project = ProjectCopy(tmp_path_factory.mktemp("example") / "project")
    return render(project)


@pytest.fixture(scope="session")
def unpinned(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Plan]:
    """The example stacks with every controller's host key removed."""
    project = ProjectCopy(tmp_path_factory.mktemp("unpinned") / "project")
    for stack in ("dc1", "dc2"):
        project.edit_datacenter(
            stack, lambda dc: [h.pop("host_key", None) for h in dc["controllers"]["hosts"]]
        )
    return {stack: render_plan(stack, project_dir=project.root) for stack in ("dc1", "dc2")}


def copy(plan: Plan) -> Plan:
    result: Plan = json.loads(json.dumps(plan))
    return result


def check(checker: PolicyChecker, plans: dict[str, Plan], stack: str = "dc1", **kwargs: Any) -> PolicyRun:
    peers = {name: plan for name, plan in plans.items() if name != stack}
    return checker.check(plans[stack], peers, **kwargs)


def render(project: ProjectCopy) -> dict[str, Plan]:
    pin_host_keys(project)
    return {stack: render_plan(stack, project_dir=project.root) for stack in ("dc1", "dc2")}


def regress(plan: Plan, kind: str, name: str, change: Callable[[dict[str, Any]], object]) -> Plan:
    """A copy of ``plan`` whose resource ``name`` (of type ``kind``) went through ``change``."""
    result = copy(plan)
    [target] = [r for r in result["resources"] if r["type"] == kind and r["name"] == name]
    change(target)
    return result


STANDING = "release-judged-by-users"
"""The examples' one standing finding (advisory) when their TCP-only services are released
(test_example_stacks_pass...)."""
EXAMPLE_SERVICES = frozenset(
    {"meetings-signalling", "meetings-media", "messaging", "recording-storage", "telepresence-gateway"}
)


def findings(run: PolicyRun) -> list[Any]:
    """The violations besides the examples' standing advisory one."""
    return [v for v in run.violations if v.policy != STANDING]


def only(run: PolicyRun, policy: str) -> list[str]:
    """Messages of ``policy``, after checking no other policy fired (but the examples' standing advisory)."""
    found = [v for v in run.violations if v.policy == policy or v.policy != STANDING]
    assert {v.policy for v in found} == {policy}, [f"{v.policy}: {v.message}" for v in run.violations]
    return [f"[{v.resource}] {v.message}" for v in found]


# --- the pack as the CLI sees it --------------------------------------------------------------------


def test_pack_announces_every_policy_with_level_schema_and_description(checker: PolicyChecker) -> None:
    info = checker.info
    assert info.name == "webex-cloud-policies" and info.supportsConfig
    levels = {p.name: p.enforcementLevel for p in info.policies}
    assert len(levels) == 20
    assert all(len(p.description) > 60 for p in info.policies)
    # advisory; every other policy blocks (an unpinned controller host key too)
    assert levels["required-metadata"] == 0 and levels["controller-ssh-host-keys"] == 1
    assert levels["release-judged-by-users"] == 0 and levels["release-analysis-can-judge"] == 1
    assert sum(1 for level in levels.values() if level == 1) == 18


@pytest.mark.parametrize("stack", ["dc1", "dc2"])
def test_example_stacks_pass_with_no_violation(
    checker: PolicyChecker, example: dict[str, Plan], stack: str
) -> None:
    # A change that released every service (the harness derives the list from the old side): the one
    # finding is advisory and true: every example service but meetings-signalling (which declares its
    # own metrics) is judged by TCP connects alone.
    run = check(checker, example, stack, released=EXAMPLE_SERVICES)
    warned = {v.resource for v in run.violations if v.policy == "release-judged-by-users"}
    services = {"meetings-media", "messaging", "recording-storage"} | (
        {"telepresence-gateway"} if stack == "dc1" else set()
    )
    assert warned == {f"{service}-wave-1-gate" for service in services}
    assert [v for v in run.violations if v.policy != "release-judged-by-users"] == []
    assert run.passed
    assert run.not_applicable == []  # every policy has something to judge, the controller pair too
    assert run.resources == len(example[stack]["resources"])


@pytest.mark.parametrize("stack", ["dc1", "dc2"])
def test_unpinned_controller_host_keys_block_with_a_finding_per_controller(
    checker: PolicyChecker, unpinned: dict[str, Plan], stack: str
) -> None:
    """Without host_key the deploy (sudo as root) would trust any host key: mandatory, not advice."""
    run = check(checker, unpinned, stack)
    messages = only(run, "controller-ssh-host-keys")
    assert not run.passed and len(run.mandatory) == 2
    assert [v for v in run.advisory if v.policy != STANDING] == []
    hosts = read_stack_config(REPO, stack)[DATACENTER_KEY]["controllers"]["hosts"]  # type: ignore[index]
    for index, host in enumerate(hosts):
        (message,) = [m for m in messages if f"({host['address']})" in m]
        assert f"[{stack}-controllers]" in message  # reported on the controller pair
        name, address = host["name"], host["address"]
        assert f"controller {name} ({address}): the deploy's SSH connection pins no host key" in message
        assert f"set controllers.hosts[{index}].host_key in stacks/Pulumi.{stack}.yaml" in message
        assert f"ssh-keyscan -t ed25519 {host['address']}" in message


def test_one_pinned_controller_leaves_one_finding(checker: PolicyChecker, project: ProjectCopy) -> None:
    project.edit_datacenter("dc1", lambda dc: dc["controllers"]["hosts"][1].pop("host_key"))
    plans = {stack: render_plan(stack, project_dir=project.root) for stack in ("dc1", "dc2")}
    [message] = only(check(checker, plans, "dc1"), "controller-ssh-host-keys")
    assert "controller dc1-ctl-02 (10.250.1.12)" in message and "controllers.hosts[1].host_key" in message


# --- failing cases from the catalog and the stack config ----------------------------------------


def test_ssh_open_to_any_source_is_refused(checker: PolicyChecker, project: ProjectCopy) -> None:
    project.edit(
        "catalog/messaging.yaml",
        lambda doc: doc["network"]["ingress"].append(
            {"protocol": "tcp", "ports": 22, "source": "any", "description": "debugging, just for today"}
        ),
    )
    run = check(checker, render(project))
    messages = [f"[{v.resource}] {v.message}" for v in run.by_policy("no-public-admin-exposure")]
    # One finding per messaging instance (its ports), naming the rules that admit the world.
    assert messages and all("SSH (tcp/22)" in m for m in messages), messages
    assert all("messaging-tcp-22-from-0.0.0.0_0" in m for m in messages), messages
    assert not run.passed


def test_a_config_naming_the_former_admin_port_policy_names_its_successor(
    checker: PolicyChecker, example: dict[str, Plan]
) -> None:
    with pytest.raises(PolicyConfigError, match="is now 'no-public-admin-exposure'"):
        check(checker, example, overrides=[("old config", {"no-admin-port-open-to-world": "mandatory"})])


def test_single_pod_service_is_refused(checker: PolicyChecker, project: ProjectCopy) -> None:
    project.edit("catalog/meetings-signalling.yaml", lambda doc: doc["pods"].update(count=1))
    [message] = only(check(checker, render(project)), "service-redundancy")
    assert "service meetings-signalling has 1 pod(s)" in message


def test_single_replica_volume_group_is_refused(checker: PolicyChecker, project: ProjectCopy) -> None:
    project.edit("catalog/recording-storage.yaml", lambda doc: doc["volume_groups"][1].update(replicas=1))
    [message] = only(check(checker, render(project)), "service-redundancy")
    assert "volume group recording-storage/search-index has 1 replica(s)" in message


def test_datacenters_that_drift_apart_are_refused(
    checker: PolicyChecker, project: ProjectCopy, example: dict[str, Plan]
) -> None:
    # The pull request grows messaging in the catalog; dc2 still runs what main deployed.
    project.edit("catalog/messaging.yaml", lambda doc: doc["pods"].update(count=4))
    pin_host_keys(project)
    plans = {"dc1": render_plan("dc1", project_dir=project.root), "dc2": example["dc2"]}
    [message] = only(check(checker, plans), "cross-datacenter-same-shape")
    assert "service messaging differs between dc1 and dc2: 4 pods here, 3 there" in message


def test_a_service_missing_from_one_datacenter_is_refused(
    checker: PolicyChecker, project: ProjectCopy, example: dict[str, Plan]
) -> None:
    # telepresence-gateway runs in dc1 only by the catalog; once it is meant for both, dc2 lacks it.
    # The plans carry the catalog: dc1 as the pull request renders it, dc2 as main deployed it.
    project.edit("catalog/telepresence-gateway.yaml", lambda doc: doc.pop("datacenters"))
    pin_host_keys(project)
    plans = {"dc1": render_plan("dc1", project_dir=project.root), "dc2": example["dc2"]}
    [message] = only(check(checker, plans), "cross-datacenter-same-shape")
    assert "service telepresence-gateway runs in dc1 but not in dc2" in message


def facts_from_edited_stack(
    project: ProjectCopy, plan: Plan, change: Callable[[dict[str, Any]], object]
) -> Plan:
    """``plan`` judged against the datacenter as the edited stack config now describes it.

    The loader refuses to render a catalog the datacenter cannot host, so these cases are the
    other way round: the datacenter changed (an image retired, a rack or hosts removed) and the
    plan of what is deployed no longer fits it.
    """
    project.edit_datacenter("dc1", change)
    raw = read_stack_config(project.root, "dc1")[DATACENTER_KEY]
    result = copy(plan)
    result["datacenter"] = parse_datacenter(raw, "dc1").model_dump(mode="json")
    return result


def test_retired_image_and_flavor_are_refused(
    checker: PolicyChecker, project: ProjectCopy, example: dict[str, Plan]
) -> None:
    def retire(dc: dict[str, Any]) -> None:
        dc["images"].remove("webex-store-2026.11")
        del dc["flavors"]["m1.large"]
        dc["volume_types"].remove("capacity")

    plan = facts_from_edited_stack(project, example["dc1"], retire)
    messages = only(check(checker, {"dc1": plan, "dc2": example["dc2"]}), "datacenter-allow-lists")
    images = [m for m in messages if "image 'webex-store-2026.11'" in m]
    flavors = [m for m in messages if "flavor 'm1.large'" in m]
    volume_types = [m for m in messages if "volume type 'capacity'" in m]
    # messaging's store and recording-storage's recorder (3 pods each) use that image and flavor;
    # the recordings volume group uses that volume type.
    assert (len(images), len(flavors), len(volume_types)) == (6, 6, 3)
    assert len(messages) == 15


def test_more_replicas_than_failure_domains_is_refused(
    checker: PolicyChecker, project: ProjectCopy, example: dict[str, Plan]
) -> None:
    def fewer_domains(dc: dict[str, Any]) -> None:
        dc["failure_domains"].pop("rack-c")
        dc["failure_domains"].pop("rack-d")
        dc["placement"] = {"n_plus_one": False}  # else the loader refuses it first (no spare domain)

    plan = facts_from_edited_stack(project, example["dc1"], fewer_domains)
    messages = only(
        check(checker, {"dc1": plan, "dc2": example["dc2"]}), "volume-replicas-within-failure-domains"
    )
    assert sorted(m.split("] ")[1].split(" has")[0] for m in messages) == [
        "volume group messaging/messages",
        "volume group recording-storage/recordings",
    ]


def test_more_pods_than_hosts_is_refused(
    checker: PolicyChecker, project: ProjectCopy, example: dict[str, Plan]
) -> None:
    plan = facts_from_edited_stack(
        project, example["dc1"], lambda dc: dc.update(hosts=[*dc["hosts"][:2], dc["hosts"][5]])
    )
    [message] = only(check(checker, {"dc1": plan, "dc2": example["dc2"]}), "pods-fit-host-inventory")
    assert "service meetings-media has 4 pods but the datacenter has 3 compute hosts" in message


def test_octavia_front_passes_and_a_missing_member_is_refused(
    checker: PolicyChecker, project: ProjectCopy
) -> None:
    def octavia(dc: dict[str, Any]) -> None:
        dc["controllers"]["octavia"] = True
        dc["controllers"].pop("proxies")

    project.edit_datacenter("dc1", octavia)
    plans = render(project)
    assert findings(check(checker, plans)) == []
    # The datacenter adds a third controller address the load balancer does not forward to yet.
    plan = copy(plans["dc1"])
    plan["datacenter"]["controllers"]["hosts"].append({"name": "dc1-ctl-03", "address": "10.250.1.19"})
    [message] = only(check(checker, {**plans, "dc1": plan}), "controller-pair-anti-affinity")
    assert "10.250.1.19 are not members behind the VIP 10.250.1.10" in message


# --- failing cases the components cannot render: one regressed resource --------------------------

VOLUME = "openstack:blockstorage/volume:Volume"
INSTANCE = "openstack:compute/instance:Instance"
SERVER_GROUP = "openstack:compute/serverGroup:ServerGroup"


def with_plan(example: dict[str, Plan], plan: Plan) -> dict[str, Plan]:
    return {"dc1": plan, "dc2": example["dc2"]}


def test_unprotected_volume_is_refused(checker: PolicyChecker, example: dict[str, Plan]) -> None:
    plan = regress(example["dc1"], VOLUME, "messaging-messages-1", lambda r: r.update(protect=False))
    [message] = only(check(checker, with_plan(example, plan)), "volume-protected")
    assert "[messaging-messages-1] volume 'messaging-messages-1' is not protected" in message


def test_volume_without_diversity_hints_is_refused(checker: PolicyChecker, example: dict[str, Plan]) -> None:
    plan = regress(
        example["dc1"], VOLUME, "messaging-messages-1", lambda r: r["inputs"].pop("schedulerHints")
    )
    [message] = only(check(checker, with_plan(example, plan)), "volume-group-hints")
    assert "lacks the scheduler hint webex_volume_group='dc1/messaging/messages'" in message


def test_instance_outside_any_pod_is_refused(checker: PolicyChecker, example: dict[str, Plan]) -> None:
    def loose(resource: dict[str, Any]) -> None:
        del resource["inputs"]["metadata"]["pod"]
        del resource["inputs"]["schedulerHints"]

    plan = regress(example["dc1"], INSTANCE, "messaging-pod-0-app-1", loose)
    run = check(checker, with_plan(example, plan))
    # Out of its pod, the instance also makes messaging's shape differ from dc2's.
    assert {v.policy for v in findings(run)} == {
        "instance-in-pod-or-controller-pair",
        "cross-datacenter-same-shape",
    }
    assert "is neither in a pod" in run.by_policy("instance-in-pod-or-controller-pair")[0].message


def test_misspelled_server_group_policy_is_refused(checker: PolicyChecker, example: dict[str, Plan]) -> None:
    plan = regress(
        example["dc1"],
        SERVER_GROUP,
        "messaging-pods",
        lambda r: r["inputs"].update(policies="affinty"),
    )
    run = check(checker, with_plan(example, plan))
    assert {v.policy for v in findings(run)} == {"server-group-policy-valid", "pod-anchor-server-groups"}
    assert "policies 'affinty'" in run.by_policy("server-group-policy-valid")[0].message


def test_soft_anti_affinity_anchors_are_refused(checker: PolicyChecker, example: dict[str, Plan]) -> None:
    # A valid Nova policy, so only the pod rule objects: a soft group may put two pods on one host.
    plan = regress(
        example["dc1"],
        SERVER_GROUP,
        "messaging-pods",
        lambda r: r["inputs"].update(policies="soft-anti-affinity"),
    )
    [message] = only(check(checker, with_plan(example, plan)), "pod-anchor-server-groups")
    assert "the pod anchors of messaging are in server group 'messaging-pods'" in message


def test_controller_pair_in_a_soft_group_is_refused(checker: PolicyChecker, example: dict[str, Plan]) -> None:
    [group] = [
        r["name"]
        for r in example["dc1"]["resources"]
        if r["type"] == SERVER_GROUP
        and r["inputs"]["policies"] == "anti-affinity"
        # the controller pair's, not the pods' or the monitoring pair's
        and r["name"].endswith("-proxy-group")
    ]
    plan = regress(
        example["dc1"], SERVER_GROUP, group, lambda r: r["inputs"].update(policies="soft-anti-affinity")
    )
    [message] = only(check(checker, with_plan(example, plan)), "controller-pair-anti-affinity")
    assert "must be 'anti-affinity' (hard)" in message


def test_proxy_port_without_the_vip_is_refused(checker: PolicyChecker, example: dict[str, Plan]) -> None:
    [port] = [
        r["name"]
        for r in example["dc1"]["resources"]
        if r["type"] == "openstack:networking/port:Port" and r["inputs"].get("allowedAddressPairs")
    ][:1]
    plan = regress(
        example["dc1"],
        "openstack:networking/port:Port",
        port,
        lambda r: r["inputs"].pop("allowedAddressPairs"),
    )
    [message] = only(check(checker, with_plan(example, plan)), "controller-pair-anti-affinity")
    assert "does not allow the VIP 10.250.1.10" in message


def test_password_in_user_data_is_refused(checker: PolicyChecker, example: dict[str, Plan]) -> None:
    plan = regress(
        example["dc1"],
        INSTANCE,
        "messaging-pod-0-store-0",
        lambda r: r["inputs"].update(userData="#cloud-config\nstore_password: hunter2\n"),
    )
    [message] = only(check(checker, with_plan(example, plan)), "no-plaintext-secret-in-instance")
    assert "sets 'store_password' in plain text in userData" in message


def test_overlapping_subnets_are_refused(checker: PolicyChecker, example: dict[str, Plan]) -> None:
    taken = example["dc1"]["services"]["messaging"]["subnet"]
    plan = regress(
        example["dc1"],
        "openstack:networking/subnet:Subnet",
        "recording-storage-subnet",
        lambda r: r["inputs"].update(cidr=taken),
    )
    [message] = only(check(checker, with_plan(example, plan)), "service-subnets-disjoint")
    assert f"'recording-storage-subnet' ({taken}) overlaps subnet 'messaging-subnet' ({taken})" in message


def test_missing_owner_is_an_advisory_finding(checker: PolicyChecker, example: dict[str, Plan]) -> None:
    plan = regress(
        example["dc1"], VOLUME, "messaging-messages-0", lambda r: r["inputs"]["metadata"].pop("owner")
    )
    run = check(checker, with_plan(example, plan))
    [message] = only(run, "required-metadata")
    assert "lacks required metadata: owner" in message
    # advisory: reported, does not block
    assert run.passed and len([v for v in run.advisory if v.policy != STANDING]) == 1


# --- configuration through policy config ---------------------------------------------------------


def test_enforcement_level_and_parameters_come_from_policy_config(
    checker: PolicyChecker, example: dict[str, Plan]
) -> None:
    stricter = [("test config", {"no-public-admin-exposure": {"adminPorts": ["tcp/443"]}})]
    run = check(checker, example, overrides=stricter)
    assert run.by_policy("no-public-admin-exposure") and not run.passed
    relaxed = [
        (
            "test config",
            {
                "all": "advisory",
                "no-public-admin-exposure": {"enforcementLevel": "disabled", "adminPorts": ["tcp/443"]},
            },
        )
    ]
    run = check(checker, example, overrides=[*stricter, *relaxed])
    assert findings(run) == [] and run.levels["volume-protected"] == "advisory"


# --- unknown values, as during a preview ----------------------------------------------------------


@pytest.mark.parametrize("stack", ["dc1", "dc2"])
def test_first_preview_reports_nothing(checker: PolicyChecker, example: dict[str, Plan], stack: str) -> None:
    run = check(checker, example, stack, unknowns=Unknowns(computed_ids=True))
    assert findings(run) == []  # also no "can't run policy during preview" advisories


@pytest.mark.parametrize("path", [("*",), ("*", "*"), ("*", "*", "*"), ("*", "*", "*", "*")])
def test_everything_unknown_at_any_depth_crashes_nothing_and_reports_nothing(
    checker: PolicyChecker, example: dict[str, Plan], path: tuple[str, ...]
) -> None:
    run = check(checker, example, unknowns=Unknowns((UnknownInput("*", path),)))
    assert findings(run) == []


def test_unknown_source_prefix_cannot_prove_an_exposure(checker: PolicyChecker, project: ProjectCopy) -> None:
    project.edit(
        "catalog/messaging.yaml",
        lambda doc: doc["network"]["ingress"].append({"protocol": "tcp", "ports": 22, "source": "any"}),
    )
    plans = render(project)
    assert check(checker, plans).by_policy("no-public-admin-exposure")
    unknown = Unknowns((UnknownInput.parse("openstack:networking/secGroupRule:*=remoteIpPrefix"),))
    assert findings(check(checker, plans, unknowns=unknown)) == []


def test_unknown_group_membership_cannot_prove_too_few_replicas(
    checker: PolicyChecker, project: ProjectCopy
) -> None:
    project.edit("catalog/recording-storage.yaml", lambda doc: doc["volume_groups"][1].update(replicas=1))
    unknown = Unknowns((UnknownInput.parse(f"{VOLUME}=metadata.webex_volume_group"),))
    run = check(checker, render(project), unknowns=unknown)
    assert findings(run) == []


def test_unknown_membership_still_lets_a_certain_excess_through(
    checker: PolicyChecker, project: ProjectCopy, example: dict[str, Plan]
) -> None:
    # Unknown pods can only add members: 4 known pods on 3 hosts is a violation whatever they are.
    plan = facts_from_edited_stack(
        project, example["dc1"], lambda dc: dc.update(hosts=[*dc["hosts"][:2], dc["hosts"][5]])
    )
    unknown = Unknowns((UnknownInput.parse("*messaging-pod-0-*=metadata.pod"),))
    run = check(checker, {"dc1": plan, "dc2": example["dc2"]}, unknowns=unknown)
    assert [v.policy for v in findings(run)] == ["pods-fit-host-inventory"]


# --- the command ------------------------------------------------------------------------------------


def test_command_passes_the_example_stack(capsys: pytest.CaptureFixture[str]) -> None:
    assert policy_cli.main(["--stack", "dc2", "--preview"]) == 0
    assert "policy pack webex-cloud-policies on stack dc2: passed" in capsys.readouterr().out


def test_command_fails_on_a_mandatory_violation_and_writes_the_config(
    project: ProjectCopy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project.edit(
        "catalog/messaging.yaml",
        lambda doc: doc["network"]["ingress"].append({"protocol": "tcp", "ports": "3389", "source": "any"}),
    )
    shutil_pack(project)
    written = tmp_path / "dc1-policy.json"
    assert (
        policy_cli.main(["--stack", "dc1", "--project", str(project.root), "--write-config", str(written)])
        == 1
    )
    out = capsys.readouterr().out
    assert (
        "FAILED" in out
        and "MANDATORY no-public-admin-exposure" in out
        and "RDP (tcp/3389)" in out
        and "messaging-tcp-3389-from-0.0.0.0_0" in out
    )
    config = json.loads(written.read_text())
    assert config["pods-fit-host-inventory"] == {"enforcementLevel": "mandatory", "hosts": 10}
    assert config["cross-datacenter-same-shape"]["serviceDatacenters"] == {"telepresence-gateway": ["dc1"]}


def shutil_pack(project: ProjectCopy) -> None:
    """Link the pack and the virtualenv into the copy, so `--project` finds them where the CLI would."""
    (project.root / "policies").symlink_to(REPO / "policies")
    (project.root / ".venv").symlink_to(REPO / ".venv")


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--stack", "dc9"], "unknown stack 'dc9'"),
        (["--stack", "dc1", "--unknown", "metadata.pod"], "--unknown takes TYPE_OR_URN=PROPERTY.PATH"),
        (["--stack", "dc1", "--peer-plan", "dc3=x.json"], "--peer-plan names dc3"),
        (["--stack", "dc1", "--plan", "/nonexistent/plan.json"], "cannot read plan"),
    ],
)
def test_command_rejects_bad_arguments_clearly(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert policy_cli.main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ("{not json", "not valid JSON"),
        (
            '{"pods-fit-host-inventory": {"hosts": "many"}}',
            "policy pods-fit-host-inventory.hosts: 'many' is not of type",
        ),
        ('{"no-such-policy": "mandatory"}', "no policy named 'no-such-policy'"),
        ('{"volume-protected": "sometimes"}', "'sometimes' is not an enforcement level"),
    ],
)
def test_command_rejects_bad_policy_config_clearly(
    tmp_path: Path, config: str, fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.json"
    path.write_text(config)
    assert policy_cli.main(["--stack", "dc1", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err


# --- the plan command's hook and the documented example config ------------------------------------


def test_plan_command_hook_checks_each_plan_against_every_other_stack(example: dict[str, Plan]) -> None:
    # dc2 is not handed over: the hook renders it, so dc1 is still compared with dc2.
    drifted = regress(
        example["dc1"],
        INSTANCE,
        "messaging-pod-0-app-1",
        lambda r: r["inputs"]["metadata"].update(role="worker"),
    )
    text, passed = check_plans({"dc1": drifted}, REPO)
    assert not passed
    assert "policy pack webex-cloud-policies on stack dc1: FAILED" in text
    assert (
        "MANDATORY cross-datacenter-same-shape" in text and "role worker: 1 instances here, 0 there" in text
    )


def test_documented_example_config_is_accepted_and_the_examples_pass(
    checker: PolicyChecker, example: dict[str, Plan]
) -> None:
    document = json.loads((REPO / "policies" / "policy-config.example.json").read_text())
    run = check(checker, example, overrides=[("policy-config.example.json", document)])
    assert findings(run) == []
    assert run.levels["required-metadata"] == "mandatory"
    assert run.levels["cross-datacenter-same-shape"] == "advisory"


# --- release-waves-health-gated ----------------------------------------------------------------------


def _gate_urn(plan: Plan, name: str) -> str:
    return str(next(r["urn"] for r in plan["resources"] if r["name"] == name))


def test_a_wave_that_does_not_wait_for_the_previous_gate_is_a_violation(
    checker: PolicyChecker, example: dict[str, Plan]
) -> None:
    gate = _gate_urn(example["dc1"], "meetings-media-wave-1-gate")

    def unchain(instance: dict[str, Any]) -> None:
        instance["dependencies"] = [u for u in instance["dependencies"] if u != gate]
        instance["dependsOn"] = [u for u in instance.get("dependsOn", []) if u != gate]

    plan = regress(example["dc1"], plan_format.INSTANCE, "meetings-media-pod-1-mixer-0", unchain)
    run = check(checker, {**example, "dc1": plan})
    (message,) = only(run, "release-waves-health-gated")
    assert not run.passed
    assert (
        "meetings-media-pod-1-mixer-0, meetings-media-pod-1-mixer-1, meetings-media-pod-1-relay-0 of wave 2"
        in (message)
    )
    assert "do not wait for the gate of the wave before" in message


def test_a_gate_that_skips_an_instance_or_a_wave_too_large_is_a_violation(
    checker: PolicyChecker, example: dict[str, Plan]
) -> None:
    def widen(gate: dict[str, Any]) -> None:
        spec = json.loads(gate["inputs"]["create"])
        spec["targets"] = spec["targets"][:-1]
        spec["pods"] = [*spec["pods"], "meetings-media-pod-1"]
        gate["inputs"]["create"] = json.dumps(spec)

    plan = regress(example["dc1"], plan_format.LOCAL_COMMAND, "meetings-media-wave-1-gate", widen)
    messages = only(check(checker, {**example, "dc1": plan}), "release-waves-health-gated")
    assert any("wave 1 changes 2 pods at once, more than rollout.max_unavailable (1)" in m for m in messages)
    assert any("the gate of wave 1 does not probe meetings-media-pod-0-relay-0" in m for m in messages)
    assert any("does not wait for meetings-media-pod-1-mixer-0" in m for m in messages)


@pytest.mark.parametrize("value", ["{bad", "[1, 2]", '"text"'])
def test_a_malformed_pulumi_config_in_the_shell_neither_breaks_nor_changes_the_check(
    monkeypatch: pytest.MonkeyPatch, example: dict[str, Plan], value: str
) -> None:
    """The SDK's pack entry point json-parses PULUMI_CONFIG before the pack runs: a leftover in the
    shell once made the pack's process print a traceback and the check fail as a pack error."""
    monkeypatch.setenv("PULUMI_CONFIG", value)
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", value)
    with PolicyChecker(REPO / "policies") as fresh:
        assert check(fresh, example).passed


def _gate_create(plan: Plan, service: str, change: Callable[[dict[str, Any]], object]) -> Plan:
    """``plan`` with wave 1's gate spec of ``service`` changed (its ``create``, what the probe runs)."""

    def edit(resource: dict[str, Any]) -> None:
        spec = json.loads(resource["inputs"]["create"])
        change(spec)
        resource["inputs"]["create"] = json.dumps(spec)

    return regress(plan, "command:local:Command", f"{service}-wave-1-gate", edit)


def test_a_release_analysis_that_cannot_judge_blocks_through_the_pack(
    checker: PolicyChecker, example: dict[str, Plan]
) -> None:
    def constant(spec: dict[str, Any]) -> None:
        spec["analysis"].update(bake_s=0, metrics=[{**spec["analysis"]["metrics"][0], "query": "vector(0)"}])

    plan = _gate_create(example["dc1"], "meetings-signalling", constant)
    run = check(checker, with_plan(example, plan))
    [blocked] = [v for v in run.violations if v.policy == "release-analysis-can-judge"]
    assert not run.passed and blocked.level == "mandatory"
    assert blocked.resource == "meetings-signalling-wave-1-gate"
    assert "rollout.analysis.bake_s: 0 s is shorter than 4 scrapes of 15 s" in blocked.message
    assert "metrics[0].query: reads no series at all" in blocked.message
    assert "catalog/meetings-signalling.yaml" in blocked.message


def test_a_tcp_only_release_is_warned_through_the_pack_and_the_config_can_make_it_block(
    checker: PolicyChecker, example: dict[str, Plan]
) -> None:
    run = check(
        checker,
        example,
        overrides=[("operator", {"release-judged-by-users": "mandatory"})],
        released={"messaging"},
    )
    assert not run.passed
    messages = [v.message for v in run.violations if v.resource == "messaging-wave-1-gate"]
    assert len(messages) == 1 and "in catalog/messaging.yaml declare rollout.analysis.metrics" in messages[0]


def test_an_analysis_declared_in_the_catalog_with_a_short_bake_is_refused(
    checker: PolicyChecker, project: ProjectCopy
) -> None:
    project.edit("catalog/meetings-signalling.yaml", lambda doc: doc["rollout"]["analysis"].update(bake_s=45))
    run = check(checker, render(project))
    [message] = [v.message for v in run.violations if v.policy == "release-analysis-can-judge"]
    assert "bake_s: 45 s is shorter than 4 scrapes of 15 s (60 s)" in message
