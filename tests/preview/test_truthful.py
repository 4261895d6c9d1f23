"""The preview tells the truth about what it read (the issue's point 8): each case once passed as green
or as the wrong risk; each is built here as the rule, not as the one file that showed it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.preview.helpers import base_plan, report, report_of
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


def _replace_line(reasons: list[str], replace_on_changes: list[str] | None) -> str:
    old, new = (
        _state({**KEY, "description": "old"}),
        _state({**KEY, "description": "new", "portRangeMax": 444}),
    )
    if replace_on_changes is not None:
        new["replaceOnChanges"] = replace_on_changes  # apitype.ResourceV3, as the engine writes newState
    steps = [
        {"op": op, "urn": RULE_URN, "oldState": old, "newState": new, "replaceReasons": reasons}
        for op in ("create-replacement", "replace", "delete-replaced")
    ]
    document = {"steps": steps, "changeSummary": {"replace": 1}}
    text = render_markdown(report_of(parse_preview(document, source="p.json", stack="dc1")))
    return next(line for line in text.splitlines() if "messaging-tcp-443" in line and "replace" in line)


def test_a_replace_the_programs_replace_on_changes_causes_is_not_blamed_on_the_provider() -> None:
    """The engine itself adds a change under `replaceOnChanges` to replaceReasons (pulumi/pulumi
    step_generator.go applyReplaceOnChanges, read at the snapshot whose CHANGELOG tops at 3.259.0; the
    SDK pins 3.272.0), and the step's newState carries the option: the provider did not ask for it."""
    line = _replace_line(["description"], ["description"])
    assert "the program's `replaceOnChanges` replaces it: description" in line, line
    assert "provider replaces it" not in line, line


def test_a_replace_with_both_reasons_names_each_by_its_cause() -> None:
    line = _replace_line(["description", "portRangeMax"], ["description"])
    assert "provider replaces it: portRangeMax" in line, line
    assert "the program's `replaceOnChanges` replaces it: description" in line, line
    # Without the option the same keys are the provider's, as before.
    assert "provider replaces it: description, portRangeMax" in _replace_line(
        ["description", "portRangeMax"], None
    )


def test_a_wildcard_replace_on_changes_takes_every_key() -> None:
    line = _replace_line(["description", "portRangeMax"], ["*"])
    assert (
        "provider replaces it" not in line
        and "replaceOnChanges` replaces it: description, portRangeMax" in line
    )


def test_the_offline_diff_names_a_replace_on_changes_replace_as_the_programs() -> None:
    """The plan records each resource's options (plan/capture.py): a change the provider would make in
    place but the option turns into a replace is the program's doing, offline as in a real preview."""
    base, pr = base_plan(), base_plan()
    rule = next(r for r in pr["resources"] if r["type"] == RULE_TYPE)
    next(r for r in base["resources"] if r["urn"] == rule["urn"])["replaceOnChanges"] = ["description"]
    rule["replaceOnChanges"] = ["description"]
    rule["inputs"]["description"] = "renamed by the program"
    text = render_markdown(report(base, pr))
    line = next(line for line in text.splitlines() if f"replace SecGroupRule `{rule['name']}`" in line)
    assert "the program's `replaceOnChanges` replaces it: description" in line, line
    assert "replace expected" not in line, line
