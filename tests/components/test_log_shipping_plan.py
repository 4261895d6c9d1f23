"""Log shipping added to a deployed stack replaces no instance (issue 24, "Logs").

The pods' user data now carries the rsyslog drop-in, and the provider replaces a server whose user data
changes (terraform-provider-openstack v3.4.0 ``resource_openstack_compute_instance_v2.go`` :85, ForceNew;
webex_cloud/facts/provider.py). The proof is the images change's: the offline diff of a checkpoint
recorded by the program before (pods without user data, monitoring nodes with other user data) against
today's plan. It can fail: the same plan without its ``ignoreChanges`` replaces every pod instance.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.audit.fakes import STACK
from tests.conftest import REPO
from tests.drift.fakes import diff_deployed, site
from webex_cloud.audit.expected import expected_from_plan
from webex_cloud.change.model import Action
from webex_cloud.monitoring import logs
from webex_cloud.plan.document import render_plan
from webex_cloud.plan.format import INSTANCE, POD, parse_plan


@pytest.fixture(scope="module")
def plan() -> dict[str, Any]:
    return render_plan(STACK, project_dir=REPO)


def _pod_instances(plan: dict[str, Any]) -> list[dict[str, Any]]:
    pods = {r["urn"] for r in plan["resources"] if r["type"] == POD}
    return [r for r in plan["resources"] if r["type"] == INSTANCE and r["parent"] in pods]


def _log_install(resource: dict[str, Any]) -> bool:
    """The controllers' drop-in: its two staged copies and its install command, per controller."""
    return str(resource["urn"]).endswith(("-logs", "-rsyslog-conf", "-rsyslog-check"))


def _before_logs(plan: dict[str, Any]) -> bytes:
    """The checkpoint of the stack as the program before log shipping deployed it."""
    parsed = parse_plan(plan, source="plan")
    cloud = site(parsed, expected_from_plan(parsed, "plan"))
    cloud.resources = [r for r in cloud.resources if not _log_install(r)]
    for resource in cloud.resources:
        if resource["type"] != INSTANCE or "userData" not in resource["inputs"]:
            continue
        if logs.STAGED in resource["inputs"]["userData"] and "monitoring" not in resource["urn"]:
            del resource["inputs"]["userData"]
            resource["outputs"].pop("userData", None)
        elif logs.STAGED in resource["inputs"]["userData"]:
            resource["inputs"]["userData"] = resource["outputs"]["userData"] = "#cloud-config\n{}\n"
    return json.dumps(cloud.checkpoint()).encode()


def test_every_pod_instance_boots_with_the_drop_in_and_ignores_later_changes(plan: dict[str, Any]) -> None:
    pods = _pod_instances(plan)
    assert pods
    for resource in pods:
        assert logs.STAGED in resource["inputs"]["userData"], resource["urn"]
        assert resource["ignoreChanges"] == ["userData"]


def test_adding_log_shipping_to_a_deployed_stack_replaces_and_updates_no_instance(
    plan: dict[str, Any],
) -> None:
    changes = diff_deployed(_before_logs(plan), plan)
    assert [c for c in changes.changes if c.type == INSTANCE] == []
    # What it adds: the controllers' install (two copies and one command per controller), nothing else.
    assert {c.action for c in changes.changes} == {Action.CREATE}
    added = [r for r in plan["resources"] if _log_install(r)]
    assert len(added) == 6
    assert {c.urn for c in changes.changes} == {r["urn"] for r in added}


def test_without_ignore_changes_the_same_change_would_replace_every_pod_instance(
    plan: dict[str, Any],
) -> None:
    unguarded = json.loads(json.dumps(plan))
    for resource in unguarded["resources"]:
        resource["ignoreChanges"] = []
    changes = diff_deployed(_before_logs(plan), unguarded)
    replaced = {c.urn for c in changes.changes if c.type == INSTANCE and c.action is Action.REPLACE}
    assert replaced >= {r["urn"] for r in _pod_instances(plan)}
