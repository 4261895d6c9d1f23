"""Offline diffs of real catalog changes: the PR's plan rendered from an edited copy of the project."""

from __future__ import annotations

from typing import Any

from tests.conftest import ProjectCopy
from tests.preview.helpers import INSTANCE, RULE, VOLUME, base_plan, pr_plan, report, resource
from webex_cloud.change.model import Action
from webex_cloud.facts.stand_ins import image_stand_in as stand_in
from webex_cloud.preview.render import render_json, render_markdown
from webex_cloud.release.rollout import GATE_TYPE as GATE

# The plan boots images by id (webex_cloud/config/image_ids.py); another release is another id.
NEXT_IMAGE = stand_in("webex-base-2026.12", "6" * 64)


def _kinds(rep: Any) -> list[tuple[str, str]]:
    return [(r.level.name, r.kind) for r in rep.risks]


def test_no_catalog_change_is_no_change() -> None:
    rep = report(base_plan(), base_plan())
    assert rep.changes.changes == ()
    assert rep.risks == ()
    assert rep.changes.unchanged == sum(1 for r in base_plan()["resources"] if r["custom"])
    assert "**No changes.**" in render_markdown(rep)


def test_adding_a_service_creates_only_and_blocks_nothing(project: ProjectCopy) -> None:
    service = project.load("catalog/meetings-signalling.yaml")
    service.update(name="chat-bots")
    project.save("catalog/chat-bots.yaml", service)
    rep = report(base_plan(), pr_plan(project))
    actions = {c.action for c in rep.changes.changes}
    assert actions == {Action.CREATE}
    assert {rep.service_of(c) for c in rep.changes.changes} == {"chat-bots"}
    # Its public ports are new ingress: a warning, never a block.
    assert {kind for level, kind in _kinds(rep)} == {"ingress"}
    assert not rep.blocking
    # Its members admit each other: the source group by name, not by the mock engine's ID.
    (ingress,) = rep.risks
    assert "any protocol from security group `chat-bots-sg`" in ingress.reason


def test_scaling_pods_only_adds_the_new_pod(project: ProjectCopy) -> None:
    """A new pod changes every existing instance's sibling-groups hint, a ForceNew input; the pod
    component ignores changes to that hint, so scaling creates the new pod and recreates nothing."""
    project.edit("catalog/messaging.yaml", lambda doc: doc["pods"].update(count=4))
    rep = report(base_plan(), pr_plan(project))
    assert not [c for c in rep.changes.changes if c.action is Action.REPLACE]
    created = [c for c in rep.changes.changes if c.action is Action.CREATE and c.type == INSTANCE]
    assert len(created) == 3
    assert not rep.blocking


def test_growing_a_volume_is_an_in_place_update(project: ProjectCopy) -> None:
    project.edit("catalog/messaging.yaml", lambda doc: doc["volume_groups"][0].update(size_gb=750))
    rep = report(base_plan(), pr_plan(project))
    assert {(c.type, c.action) for c in rep.changes.changes} == {(VOLUME, Action.UPDATE)}
    assert rep.risks == ()
    assert "`size` 500 → 750" in render_markdown(rep)


def test_shrinking_a_volume_warns_that_cinder_will_refuse(project: ProjectCopy) -> None:
    project.edit("catalog/messaging.yaml", lambda doc: doc["volume_groups"][0].update(size_gb=100))
    rep = report(base_plan(), pr_plan(project))
    assert _kinds(rep) == [("WARNING", "volume-shrink")] * 3
    assert not rep.blocking


def test_changing_a_volume_type_retypes_in_place_and_warns(project: ProjectCopy) -> None:
    """terraform-provider-openstack v3.4.0 retypes a volume in place (volume_retype_policy never)."""
    project.edit("catalog/messaging.yaml", lambda doc: doc["volume_groups"][0].update(type="capacity"))
    rep = report(base_plan(), pr_plan(project))
    volumes = [c for c in rep.changes.changes if c.type == VOLUME]
    assert len(volumes) == 3 and {c.action for c in volumes} == {Action.UPDATE}
    assert not rep.blocking
    assert _kinds(rep) == [("WARNING", "volume-retype")] * 3


def test_changing_a_volume_hint_is_data_loss() -> None:
    """A component change that touches only a volume's scheduler hint still recreates the volume."""
    base, pr = base_plan(), base_plan()
    hints = resource(pr, "messaging-messages-1")["inputs"]["schedulerHints"][0]["additionalProperties"]
    hints["webex_volume_group"] = "dc1/messaging/other"
    rep = report(base, pr)
    assert [(c.name, c.action) for c in rep.changes.changes if c.type == VOLUME] == [
        ("messaging-messages-1", Action.REPLACE)
    ]
    assert [r.subject for r in rep.blocking] == ["Volume `messaging-messages-1`"]
    assert (
        "schedulerHints[0].additionalProperties.webex_volume_group (dc1/messaging/messages → "
        "dc1/messaging/other)" in rep.blocking[0].reason
    )


def test_changing_an_instance_image_replaces_it_but_one_pod_is_not_downtime() -> None:
    base, pr = base_plan(), base_plan()
    resource(pr, "messaging-pod-0-app-0")["inputs"]["imageId"] = NEXT_IMAGE
    rep = report(base, pr)
    (change,) = rep.changes.changes
    # terraform-provider-openstack v3.4.0: a rebuild in place, not a replacement.
    assert change.action is Action.UPDATE and change.replace_reasons == ()
    assert rep.risks == ()


def test_a_flavor_change_replaces_each_pod_whole_one_wave_at_a_time(project: ProjectCopy) -> None:
    def resize(doc: dict[str, Any]) -> None:
        doc["pods"]["members"][0]["flavor"] = "m1.large"

    project.edit("catalog/meetings-signalling.yaml", resize)
    pr = pr_plan(project)
    rep = report(base_plan(), pr)
    instances = [c for c in rep.changes.changes if c.type == INSTANCE]
    assert len(instances) == 9 and {c.action for c in instances} == {Action.REPLACE}
    assert not rep.blocking
    # Without the gates between the waves, every pod would be down at once.
    for item in pr["resources"]:
        gates = {u for u in item["dependencies"] if u.endswith("-gate")}
        item["dependencies"] = [u for u in item["dependencies"] if u not in gates]
    (risk,) = report(base_plan(), pr).blocking
    assert risk.subject == "service `meetings-signalling`" and "all 3 serving pods" in risk.reason


def test_removing_a_datacenter_from_a_service_is_data_loss_and_downtime(project: ProjectCopy) -> None:
    project.edit("catalog/messaging.yaml", lambda doc: doc.update(datacenters=["dc2"]))
    rep = report(base_plan(), pr_plan(project))
    assert {c.action for c in rep.changes.changes} == {Action.DELETE}
    kinds = _kinds(rep)
    assert kinds.count(("BLOCKING", "data-loss")) == 3
    assert ("BLOCKING", "downtime") in kinds
    # dc2 keeps the service: nothing changes there.
    assert report(base_plan("dc2"), pr_plan(project, "dc2")).changes.changes == ()


def test_opening_ingress_from_anywhere_is_a_warning(project: ProjectCopy) -> None:
    rule = {"protocol": "tcp", "ports": 8443, "source": "any", "description": "admin console"}
    project.edit("catalog/messaging.yaml", lambda doc: doc["network"]["ingress"].append(rule))
    rep = report(base_plan(), pr_plan(project))
    assert _kinds(rep) == [("WARNING", "ingress")]  # one security group, its IPv4 and IPv6 "any" rules
    (warning,) = rep.warnings
    assert "tcp 8443 from 0.0.0.0/0; tcp 8443 from ::/0 — from anywhere" in warning.reason
    assert (
        warning.subject == "SecGroupRule `messaging-tcp-8443-from-0.0.0.0_0`, `messaging-tcp-8443-from-xx_0`"
    )
    document = render_json(rep)
    assert document["blocking"] == [] and len(document["warnings"]) == 1


def test_closing_ingress_is_not_a_warning(project: ProjectCopy) -> None:
    project.edit("catalog/messaging.yaml", lambda doc: doc["network"]["ingress"].pop())
    rep = report(base_plan(), pr_plan(project))
    assert rep.changes.changes and all(c.action is Action.DELETE for c in rep.changes.changes)
    assert rep.risks == ()


def _controller_release(plan: dict[str, Any], version: str) -> None:
    """What a new filter release does to the plan: every copy and rollout of both controllers changes."""
    for item in plan["resources"]:
        if item["type"].startswith("command:remote:") and "-dc1-ctl-0" in item["name"]:
            item["inputs"]["triggers"] = [version]


def test_a_filter_release_rolls_controllers_one_after_the_other() -> None:
    base, pr = base_plan(), base_plan()
    _controller_release(pr, "release-2")
    rep = report(base, pr)
    touched = {c.name for c in rep.changes.changes}
    assert {"dc1-controllers-dc1-ctl-01-rollout", "dc1-controllers-dc1-ctl-02-rollout"} <= touched
    assert rep.blocking == ()  # controller 2 waits for controller 1's health-gated rollout


def test_both_controllers_at_the_same_time_is_downtime() -> None:
    base, pr = base_plan(), base_plan()
    _controller_release(pr, "release-2")
    for plan in (base, pr):  # a component that forgot the ordering
        for item in plan["resources"]:
            item["dependencies"] = [d for d in item["dependencies"] if not d.endswith("-dc1-ctl-01-rollout")]
    rep = report(base, pr)
    assert [r.subject for r in rep.blocking] == ["controller pair"]
    assert "not one after the other" in rep.blocking[0].reason


def test_replacing_both_api_proxies_is_downtime() -> None:
    base, pr = base_plan(), base_plan()
    for name in ("dc1-controllers-proxy-0", "dc1-controllers-proxy-1"):
        resource(pr, name)["inputs"]["imageId"] = NEXT_IMAGE
    rep = report(base, pr)
    assert [r.subject for r in rep.blocking] == ["anti-affinity group `dc1-controllers-proxy-group`"]
    assert "all 2 members disrupted" in rep.blocking[0].reason
    # One proxy at a time keeps the API front up.
    one = base_plan()
    resource(one, "dc1-controllers-proxy-0")["inputs"]["imageId"] = NEXT_IMAGE
    assert report(base, one).blocking == ()


def test_ignore_changes_is_honoured() -> None:
    """An ``ignoreChanges`` path keeps the old value: a change under it is no replace."""
    base, pr = base_plan(), base_plan()
    instance = resource(pr, "messaging-pod-0-app-0")
    instance["inputs"]["schedulerHints"][0]["additionalProperties"]["webex_pod"] = "dc1/messaging/moved"
    instance["ignoreChanges"] = []
    assert [c.action for c in report(base, pr).changes.changes] == [Action.REPLACE]
    instance["ignoreChanges"] = ["schedulerHints[*].additionalProperties"]
    assert report(base, pr).changes.changes == ()
    # Only that path: the server group hint next to it still counts.
    instance["inputs"]["schedulerHints"][0]["group"] = "another-group"
    assert [c.replace_reasons for c in report(base, pr).changes.changes] == [("schedulerHints",)]


def test_growing_one_role_renumbers_no_running_instance(project: ProjectCopy) -> None:
    """Each (pod, role) owns a block of addresses: one more `app` per pod only adds instances."""
    project.edit("catalog/messaging.yaml", lambda doc: doc["pods"]["members"][0].update(count=3))
    rep = report(base_plan(), pr_plan(project))
    assert {c.action for c in rep.changes.changes if c.type != GATE} == {Action.CREATE, Action.UPDATE}
    assert sum(1 for c in rep.changes.changes if c.type == INSTANCE and c.action is Action.CREATE) == 3
    # The pods grew: each anchor's webex_pod_room (what its members need beside it) is updated in place.
    updated = [c for c in rep.changes.changes if c.action is Action.UPDATE]
    assert sorted(c.name for c in updated) == [f"messaging-pod-{p}-app-0" for p in range(3)]
    for change in updated:
        assert change.old_inputs is not None and change.new_inputs is not None
        old, new = dict(change.old_inputs), dict(change.new_inputs)
        assert old.pop("metadata")["webex_pod_room"] != new.pop("metadata")["webex_pod_room"]
        assert old == new
    # Each wave's gate probes its new instance too (its triggers list them): replaced, so it runs.
    assert {c.action for c in rep.changes.changes if c.type == GATE} == {Action.REPLACE}
    assert not rep.blocking


def test_removing_an_ingress_rule_touches_that_rule_only(project: ProjectCopy) -> None:
    """Rules are named by what they admit: deleting one does not rename (and recreate) the others."""
    project.edit("catalog/messaging.yaml", lambda doc: doc["network"]["ingress"].pop(-1))
    rep = report(base_plan(), pr_plan(project))
    assert {(c.type, c.action) for c in rep.changes.changes} == {(RULE, Action.DELETE)}
    assert len(rep.changes.changes) == 1  # tcp/9042 from peer-dc


def test_replaced_instances_and_attachments_free_their_port_and_volume_first() -> None:
    """A new server boots on the same fixed-IP port and takes the same volume: the old goes first."""
    plan = base_plan()
    for item in plan["resources"]:
        if (
            item["type"] in (INSTANCE, "openstack:compute/volumeAttach:VolumeAttach")
            and "pod" in item["name"]
        ):
            assert item["deleteBeforeReplace"] is True, item["name"]
        if item["type"] == VOLUME:
            assert item["inputs"]["enableOnlineResize"] is True
