"""The preview tells the truth about what it read (the issue's point 8): each case once passed as green
or as the wrong risk; each is built here as the rule, not as the one file that showed it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.preview.helpers import report_of
from webex_cloud.change.model import UNKNOWN_SENTINEL, urn_name
from webex_cloud.preview.errors import PreviewInputError
from webex_cloud.preview.events import parse_event_log, policy_risks
from webex_cloud.preview.pulumi_json import parse_preview
from webex_cloud.preview.render import render_markdown

RULE_TYPE = "openstack:networking/secGroupRule:SecGroupRule"
RULE_URN = f"urn:pulumi:dc1::webex-cloud::webex:network:ServiceNetwork${RULE_TYPE}::messaging-tcp-443"
KEY = {
    "direction": "ingress",
    "ethertype": "IPv4",
    "protocol": "tcp",
    "portRangeMin": 443,
    "portRangeMax": 443,
    "remoteIpPrefix": "10.250.1.0/24",
    "securityGroupId": "sg-1",
}


def _state(inputs: dict[str, Any]) -> dict[str, Any]:
    return {"urn": RULE_URN, "type": RULE_TYPE, "inputs": inputs}


def _rule_replace(order: list[str]) -> dict[str, Any]:
    old, new = _state({**KEY, "description": "old"}), _state({**KEY, "description": "new"})
    steps = [
        {"op": op, "urn": RULE_URN, "oldState": old, "newState": new, "replaceReasons": ["description"]}
        for op in order
    ]
    return {"steps": steps, "changeSummary": {"replace": 1}}


def _kinds(document: dict[str, Any]) -> list[str]:
    return [r.kind for r in report_of(parse_preview(document, source="p.json", stack="dc1")).risks]


def test_a_rule_replaced_delete_first_is_no_conflict() -> None:
    assert _kinds(_rule_replace(["delete-replaced", "replace", "create-replacement"])) == []


def test_a_rule_replaced_create_first_with_the_same_key_is_a_conflict() -> None:
    assert _kinds(_rule_replace(["create-replacement", "replace", "delete-replaced"])) == ["conflict"]


@pytest.mark.parametrize("level", ["advisory", "warning", "remediate", "Advisory", "some-future-level"])
def test_every_reported_policy_level_but_mandatory_is_a_warning(level: str) -> None:
    event = {"policyEvent": {"message": "m", "policyName": "p", "enforcementLevel": level}}
    [risk] = policy_risks(parse_event_log(json.dumps(event) + "\n", "events.jsonl"))
    assert risk.level.name == "WARNING" and f"({level})" in risk.subject


@pytest.mark.parametrize("level", ["none", "disabled"])
def test_a_switched_off_policy_reports_nothing(level: str) -> None:
    event = {"policyEvent": {"message": "m", "policyName": "p", "enforcementLevel": level}}
    assert policy_risks(parse_event_log(json.dumps(event) + "\n", "events.jsonl")) == []


def test_another_stacks_preview_is_refused() -> None:
    document = {"steps": [{"op": "same", "urn": "urn:pulumi:dc2::webex-cloud::pulumi:pulumi:Stack::p-dc2"}]}
    with pytest.raises(PreviewInputError, match="holds steps of stack\\(s\\) 'dc2', not 'dc1'"):
        parse_preview(document, source="p.json", stack="dc1")


@pytest.mark.parametrize("urn", ["not-a-urn", "urn:pulumi:dc1::webex-cloud", "urn:pulumi:::p::t::n", ""])
def test_a_step_whose_urn_is_no_urn_is_refused(urn: str) -> None:
    with pytest.raises(PreviewInputError):
        parse_preview({"steps": [{"op": "create", "urn": urn}]}, source="p.json", stack="dc1")


@pytest.mark.parametrize(
    "summary",
    [{"create": 0, "same": 3}, {"create": 1, "delete": 2}, {"update": 1}, {"replace": 1}],
)
def test_a_change_summary_that_contradicts_the_steps_is_refused(summary: dict[str, int]) -> None:
    old = _state({**KEY, "description": "old"})
    document = {"steps": [{"op": "create", "urn": RULE_URN, "newState": old}], "changeSummary": summary}
    with pytest.raises(PreviewInputError, match="changeSummary contradicts the steps"):
        parse_preview(document, source="p.json", stack="dc1")


def test_a_summary_of_changes_with_no_changed_step_is_not_no_changes() -> None:
    same = {"op": "same", "urn": RULE_URN, "newState": _state(KEY)}
    with pytest.raises(PreviewInputError, match="changeSummary contradicts"):
        parse_preview({"steps": [same], "changeSummary": {"update": 4, "same": 1}}, source="p", stack="dc1")


def test_a_source_known_only_after_the_update_may_be_anywhere() -> None:
    new = _state({**KEY, "remoteIpPrefix": UNKNOWN_SENTINEL})
    document = {"steps": [{"op": "create", "urn": RULE_URN, "newState": new}], "changeSummary": {"create": 1}}
    [risk] = report_of(parse_preview(document, source="p.json", stack="dc1")).risks
    assert risk.kind == "ingress" and "possibly from anywhere" in risk.reason
    assert UNKNOWN_SENTINEL not in risk.reason and "(known after the update)" in risk.reason


def test_a_name_holding_double_colons_is_kept_whole() -> None:
    assert urn_name(f"urn:pulumi:dc1::webex-cloud::{RULE_TYPE}::team::web::443") == "team::web::443"


def test_an_image_change_is_explained_as_a_rebuild_that_wipes_the_root_disk() -> None:
    instance = "openstack:compute/instance:Instance"
    urn = f"urn:pulumi:dc1::webex-cloud::{instance}::messaging-pod-0-app-0"
    old = {"urn": urn, "type": instance, "inputs": {"imageName": "webex-base-2026.10"}}
    new = {"urn": urn, "type": instance, "inputs": {"imageName": "webex-base-2026.11"}}
    document = {
        "steps": [
            {"op": "update", "urn": urn, "oldState": old, "newState": new, "diffReasons": ["imageName"]}
        ],
        "changeSummary": {"update": 1},
    }
    text = render_markdown(report_of(parse_preview(document, source="p.json", stack="dc1")))
    line = next(line for line in text.splitlines() if "messaging-pod-0-app-0" in line and "imageName" in line)
    assert "rebuild (root disk wiped)" in line, line
