"""Unknown is not safe: a delete or replace the risk tables cannot judge is a warning naming the type.

Earlier versions called a deleted bucket data loss; then an unknown type read as "no risks found".
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ProjectCopy
from tests.preview.helpers import base_plan, pr_plan, report, report_of
from webex_cloud.preview.pulumi_json import parse_preview


def _step(op: str, type_: str, name: str, **state: Any) -> dict[str, Any]:
    urn = f"urn:pulumi:dc1::webex-cloud::{type_}::{name}"
    old = {"urn": urn, "type": type_, "inputs": {"name": name}, "protect": False, **state}
    step: dict[str, Any] = {"op": op, "urn": urn, "oldState": old}
    if op == "replace":
        step["newState"] = {**old, "inputs": {"name": f"{name}-2"}}
        step["replaceReasons"] = ["name"]
    return step


def _risks(*steps: dict[str, Any]) -> list[tuple[str, str, str]]:
    report = report_of(parse_preview({"steps": list(steps)}, source="p", stack="dc1"))
    return [(r.level.name, r.kind, r.reason) for r in report.risks]


@pytest.mark.parametrize("op", ["delete", "replace"])
@pytest.mark.parametrize(
    "type_", ["aws:s3/bucket:Bucket", "gcp:sql/databaseInstance:DatabaseInstance", "openstack:dns/zone:Zone"]
)
def test_an_unknown_type_deleted_or_replaced_is_a_warning_naming_it(op: str, type_: str) -> None:
    [(level, kind, reason)] = _risks(_step(op, type_, "thing"))
    assert (level, kind) == ("WARNING", "unknown-type")
    assert type_ in reason and "cannot judge" in reason


def test_a_retained_delete_of_an_unknown_type_loses_nothing() -> None:
    assert _risks(_step("delete", "aws:s3/bucket:Bucket", "kept", retainOnDelete=True)) == []


@pytest.mark.parametrize(
    "type_", ["openstack:keymanager/secretV1:SecretV1", "openstack:keymanager/orderV1:OrderV1"]
)
def test_a_barbican_secret_deleted_is_data_loss(type_: str) -> None:
    [(level, kind, _)] = _risks(_step("delete", type_, "tls-key"))
    assert (level, kind) == ("BLOCKING", "data-loss")


def test_types_the_program_registers_are_judged_by_their_own_rules() -> None:
    plan = base_plan()
    rule = next(r for r in plan["resources"] if r["type"].endswith("secGroupRule:SecGroupRule"))
    provider = "pulumi:providers:openstack"
    steps = [_step("delete", rule["type"], rule["name"]), _step("replace", provider, "dc1")]
    assert [kind for _, kind, _ in _risks(*steps)] == []


def test_a_change_of_what_runs_as_root_on_the_controllers_is_shown_as_such(project: ProjectCopy) -> None:
    nova = {"fragment_path": "/etc/nova/nova-scheduler.d/50-webex-filters.conf", "unit": "devstack@n-sch"}
    project.edit_datacenter("dc1", lambda dc: dc["controllers"].setdefault("deploy", {}).update(nova=nova))
    risks = [r for r in report(base_plan(), pr_plan(project)).risks if r.kind == "root"]
    [risk] = risks
    assert risk.level.name == "WARNING" and risk.reason.startswith("runs as root on the controllers")
    assert "the deploy profile changes" in risk.reason and "dc1-ctl-01-profile" in risk.reason


def test_an_unchanged_controller_rollout_shows_no_root_warning() -> None:
    assert [r for r in report(base_plan(), base_plan()).risks if r.kind == "root"] == []
