"""Real `pulumi preview --json` outputs (tests/data/preview, origins in its README) into the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.preview.helpers import INSTANCE, VOLUME, base_plan, report_of
from webex_cloud.change.model import Action, Certainty
from webex_cloud.plan.format import SEC_GROUP
from webex_cloud.preview.errors import PreviewInputError
from webex_cloud.preview.plans import snapshot_from_plan
from webex_cloud.preview.pulumi_json import load_preview, parse_preview
from webex_cloud.preview.render import render_json, render_markdown
from webex_cloud.preview.topology import topology_from_snapshot

SAMPLES = REPO / "tests" / "data" / "preview"


def test_replace_update_create_sample() -> None:
    changes = load_preview(SAMPLES / "drift-adopter-standard-json-replace.json", stack="test-d569308b")
    assert [(c.name, c.action) for c in changes.changes] == [
        ("tls-key-0", Action.REPLACE),
        ("cmd-4", Action.UPDATE),
        ("cmd-38", Action.CREATE),
    ]
    key = changes.changes[0]
    assert key.certainty is Certainty.PROVIDER and key.replace_reasons == ("algorithm", "ecdsaCurve")
    assert key.type == "tls:index/privateKey:PrivateKey"
    # detailedDiff is null for the replace: the top-level reasons stand in, replace ones flagged.
    assert {p.path: p.forces_replace for p in key.properties}["algorithm"] is True
    assert {p.path: p.kind for p in changes.changes[1].properties} == {
        "create": "update",
        "environment": "delete",
    }
    rep = report_of(changes)
    # The report does not know a TLS key's type: its replace is a warning that says so, never "no risk".
    assert [(r.level.name, r.kind) for r in rep.risks] == [("WARNING", "unknown-type")]
    assert "tls:index/privateKey:PrivateKey" in rep.risks[0].reason
    assert "provider replaces it: algorithm, ecdsaCurve" in render_markdown(rep)


def test_aws_sample_parses_and_its_types_raise_no_openstack_risk() -> None:
    """The rules know this project's OpenStack types only: an AWS security group or bucket (the sample's
    types) is parsed and counted; the replaced one is a warning that the report cannot judge it."""
    changes = load_preview(SAMPLES / "drift-adopter-aws-tags-and-sets.json", stack="test-b5f8ac54")
    assert sorted((c.name, c.action.value) for c in changes.changes) == [
        ("test-bucket", "update"),
        ("test-bucket-versioning", "update"),
        ("test-role", "update"),
        ("test-sg", "replace"),
    ]
    assert changes.unchanged == 2  # one `same` step, two in changeSummary: the summary wins
    assert any("--show-sames" in note for note in changes.notes)
    [risk] = report_of(changes).risks
    assert (risk.kind, risk.subject) == ("unknown-type", "SecurityGroup `test-sg`")


def _step(
    op: str, item: dict[str, Any], new_inputs: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    """A step shaped like the samples, for a resource of this project's plan."""
    state = {
        "urn": item["urn"],
        "custom": True,
        "type": item["type"],
        "inputs": item["inputs"],
        "parent": item["parent"],
        "protect": item["protect"],
    }
    new = dict(state, inputs=new_inputs if new_inputs is not None else item["inputs"])
    step: dict[str, Any] = {
        "op": op,
        "urn": item["urn"],
        "oldState": state,
        "newState": new,
        "detailedDiff": None,
    }
    if op == "create":
        del step["oldState"]
    if op in ("delete", "delete-replaced"):
        del step["newState"]
    step.update(extra)
    return step


def _openstack_preview(plan: dict[str, Any], changed: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    steps = []
    summary: dict[str, int] = {}
    for item in plan["resources"]:
        own = changed.get(item["urn"], [_step("same", item)])
        steps += own
        # The engine counts each resource once, a replacement's three steps as one replace.
        ops = {step["op"] for step in own}
        op = "replace" if ops & {"replace", "create-replacement", "delete-replaced"} else own[0]["op"]
        summary[op] = summary.get(op, 0) + 1
    return {"steps": steps, "changeSummary": summary}


def test_openstack_preview_volume_replacement_in_three_steps_is_one_blocking_change() -> None:
    plan = base_plan()
    volume = next(r for r in plan["resources"] if r["type"] == VOLUME)
    new_inputs = dict(volume["inputs"], volumeType="capacity")
    reasons = {"replaceReasons": ["volumeType"], "diffReasons": ["volumeType"]}
    document = _openstack_preview(
        plan,
        {
            volume["urn"]: [
                _step("create-replacement", volume, new_inputs, **reasons),
                _step("replace", volume, new_inputs, **reasons),
                _step("delete-replaced", volume),
            ]
        },
    )
    changes = parse_preview(document, source="preview.json", stack="dc1")
    (change,) = changes.changes
    assert change.action is Action.REPLACE and change.protected
    rep = report_of(changes)
    assert [(r.kind, r.subject) for r in rep.blocking] == [("data-loss", f"Volume `{volume['name']}`")]
    assert changes.unchanged == len(plan["resources"]) - 1
    # Services come from the steps' parent chain even without a plan.
    assert changes.topology.service_of(volume["urn"]) == "messaging"


def test_openstack_preview_replacing_an_instance_in_every_pod_is_downtime() -> None:
    plan = base_plan()
    snapshot = snapshot_from_plan(plan, source="plan.json")
    pods = snapshot.pods["meetings-signalling"]
    urns = {pod.instances[0] for pod in pods}
    by_urn = {r["urn"]: r for r in plan["resources"]}
    changed = {
        urn: [
            _step(
                "replace",
                by_urn[urn],
                dict(by_urn[urn]["inputs"], imageName="next"),
                replaceReasons=["imageName"],
            )
        ]
        for urn in urns
    }
    document = _openstack_preview(plan, changed)
    with_plan = parse_preview(
        document, source="p.json", stack="dc1", topology=topology_from_snapshot(snapshot)
    )
    without_plan = parse_preview(document, source="p.json", stack="dc1")
    for changes in (with_plan, without_plan):
        rep = report_of(changes)
        assert [r.subject for r in rep.blocking] == ["service `meetings-signalling`"]
        assert f"all {len(pods)} serving pods" in rep.blocking[0].reason
    # Two of three without a gate between them: more than max_unavailable (1) at once.
    two = {urn: steps for urn, steps in changed.items() if urn != pods[0].instances[0]}
    (risk,) = report_of(parse_preview(_openstack_preview(plan, two), source="p", stack="dc1")).blocking
    assert "2 of 3 serving pods can be disrupted at the same time" in risk.reason
    # One pod: the others keep serving.
    one = {pods[1].instances[0]: changed[pods[1].instances[0]]}
    assert report_of(parse_preview(_openstack_preview(plan, one), source="p", stack="dc1")).blocking == ()
    assert all(c.type == INSTANCE for c in with_plan.changes)


def test_no_changes_preview_says_so() -> None:
    plan = base_plan()
    rep = report_of(parse_preview(_openstack_preview(plan, {}), source="p.json", stack="dc1"))
    text = render_markdown(rep)
    assert f"**No changes.** All {len(plan['resources'])} resources are unchanged." in text
    assert "<details>" not in text and render_json(rep)["changes"] == []


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"steps": [{"op": "explode", "urn": "urn:pulumi:dc1::b::t::n"}]}, "unknown step op(s) 'explode'"),
        ({"steps": [{"op": "create"}]}, "steps[0].urn: Field required"),
        # Every key of the digest is omitempty (pkg/display/json.go): a failed preview may have no steps.
        ({"config": {}}, "not the output of `pulumi preview --json`"),
        ([1, 2], "not the expected shape"),
    ],
)
def test_bad_documents_name_the_problem(document: Any, message: str) -> None:
    with pytest.raises(PreviewInputError) as error:
        parse_preview(document, source="preview.json", stack="dc1")
    assert error.value.source == "preview.json" and message in error.value.message


def test_a_file_that_is_not_json_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "preview.txt"
    bad.write_text("Previewing update (dc1):\n  + 3 to create\n")
    with pytest.raises(PreviewInputError) as error:
        load_preview(bad, stack="dc1")
    assert str(bad) in str(error.value) and "was `pulumi preview` run with --json?" in str(error.value)


def test_a_new_rule_from_a_deployed_group_names_that_group() -> None:
    """`--show-sames` gives each unchanged resource's state with its real ID: a rule admitting another
    security group is reported with that group's name, not a UUID nobody can read."""
    plan = base_plan()
    group = next(r for r in plan["resources"] if r["type"] == SEC_GROUP and r["name"] == "messaging-sg")
    rule = next(r for r in plan["resources"] if r["name"] == "messaging-from-members")
    deployed_id = "0b8f4c2e-5d1a-4f3e-9a27-6c1d2e3f4a5b"
    same_group = _step("same", group)
    same_group["newState"]["id"] = same_group["oldState"]["id"] = deployed_id
    document = _openstack_preview(
        plan,
        {
            group["urn"]: [same_group],
            rule["urn"]: [_step("create", rule, dict(rule["inputs"], remoteGroupId=deployed_id))],
        },
    )
    (ingress,) = report_of(parse_preview(document, source="preview.json", stack="dc1")).risks
    assert ingress.reason == "opens ingress: any protocol from security group `messaging-sg`"


def _group_replacement(plan: dict[str, Any], deleted_first: bool) -> dict[str, Any]:
    """The anchor group replaced (renamed) with each pod's anchor depending on it, in the step order
    pulumi/pulumi ``pkg/resource/deploy/step_generator.go`` emits (read at the snapshot whose CHANGELOG
    tops at 3.259.0): delete-before-replace deletes the dependents
    (reverse dependency order) and the group first, then ``replace`` and ``create-replacement``;
    create-before-delete creates first and deletes the old group after every other step."""
    by_name = {r["name"]: r for r in plan["resources"]}
    group = by_name["messaging-pods"]
    anchors = [by_name[f"messaging-pod-{p}-app-0"] for p in range(3)]
    renamed = dict(group["inputs"], name="dc1-messaging-pods-renamed")
    reasons = {"replaceReasons": ["name"], "diffReasons": ["name"]}
    first: list[dict[str, Any]]
    if deleted_first:
        first = [_step("delete-replaced", a) for a in reversed(anchors)] + [
            _step("delete-replaced", group),
            _step("replace", group, renamed, **reasons),
            _step("create-replacement", group, renamed, **reasons),
        ]
        for anchor in anchors:
            first += [
                _step("create-replacement", anchor, replaceReasons=["schedulerHints"]),
                _step("replace", anchor, replaceReasons=["schedulerHints"]),
            ]
        last: list[dict[str, Any]] = []
    else:
        first = [
            _step("create-replacement", group, renamed, **reasons),
            _step("replace", group, renamed, **reasons),
        ]
        last = [_step("delete-replaced", group)]
    touched = {group["urn"], *(a["urn"] for a in anchors)}
    steps = [_step("same", r) for r in plan["resources"] if r["urn"] not in touched]
    # The engine's summary counts what its steps do (a replacement once, however many halves it has).
    summary = {"replace": len(touched) if deleted_first else 1, "same": len(steps)}
    return {"steps": first + steps + last, "changeSummary": summary}


def test_a_preview_that_deletes_the_group_first_says_so_and_shows_the_cascade() -> None:
    plan = base_plan()
    changes = parse_preview(_group_replacement(plan, deleted_first=True), source="p.json", stack="dc1")
    by_name = {c.name: c for c in changes.changes}
    # Before, the JSON path never set it: the report read "replaced" where the engine takes every anchor.
    assert by_name["messaging-pods"].delete_before_replace
    assert all(by_name[f"messaging-pod-{p}-app-0"].delete_before_replace for p in range(3))
    rep = report_of(changes)
    assert "(deleted first)" in render_markdown(rep)
    assert "service `messaging`" in [r.subject for r in rep.blocking if r.kind == "downtime"]


def test_a_preview_that_creates_the_group_first_does_not_delete_first() -> None:
    changes = parse_preview(_group_replacement(base_plan(), deleted_first=False), source="p", stack="dc1")
    (group,) = changes.changes
    assert group.action is Action.REPLACE and not group.delete_before_replace
    assert "(deleted first)" not in render_markdown(report_of(changes))
