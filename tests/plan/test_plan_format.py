"""The plan document's one owner: every reader accepts what the writer writes, and refuses the rest."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import webex_policies.model as pack_model
import webex_policies.values as pack_values

from tests.conftest import REPO
from webex_cloud.commands.plan import main as plan_main
from webex_cloud.placement.plan import load_placement
from webex_cloud.plan import format as plan_format
from webex_cloud.plan.document import render_plan
from webex_cloud.plan.format import PlanError, clean_wire_value, dumps, empty_plan, parse_plan, read_plan
from webex_cloud.policy_check.wire import PlanResources
from webex_cloud.preview.errors import PreviewInputError
from webex_cloud.preview.plans import load_snapshot


@pytest.fixture(scope="module")
def dc1() -> dict[str, Any]:
    return render_plan("dc1", project_dir=REPO)


def test_a_read_plan_is_the_very_document_that_was_written(dc1: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "dc1.json"
    path.write_text(dumps(dc1))
    plan = read_plan(path)
    assert plan.to_json() == dc1
    assert dumps(plan) == path.read_text()
    assert plan.services and all(s.pods for s in plan.services.values())


def test_the_empty_plan_is_accepted_by_every_reader(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert plan_main(["--empty", "--stack", "dc9", "--out", str(tmp_path)]) == 0
    path = tmp_path / "dc9.json"
    assert f"empty plan of dc9 written to {path}" in capsys.readouterr().out
    assert read_plan(path) == empty_plan("dc9")
    snapshot = load_snapshot(path)
    assert (snapshot.stack, snapshot.resources, snapshot.pods) == ("dc9", {}, {})
    placement = load_placement(path)
    assert (placement.stack, placement.services, placement.hosts) == ("dc9", [], [])
    assert PlanResources.of(json.loads(path.read_text())).resources == []


def test_the_empty_plan_needs_a_stack(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert plan_main(["--empty", "--out", str(tmp_path)]) == 2
    assert "--empty needs --stack" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read plan: no such plan; render it with `python -m webex_cloud plan --stack dc1`"),
        ("{not json", "not a plan (invalid JSON: Expecting property name enclosed in double quotes"),
        (json.dumps({"format": "webex-cloud.plan/v0"}), "format is 'webex-cloud.plan/v0', expected"),
        (
            json.dumps({**empty_plan("dc1").to_json(), "resources": [{"urn": "u", "type": "t"}]}),
            "not the expected shape: resources[0].name is missing; re-render the plan with "
            "`python -m webex_cloud plan`",
        ),
        (
            json.dumps({**empty_plan("dc1").to_json(), "datacenter": []}),
            "datacenter must be a dict, got list",
        ),
    ],
)
def test_an_unusable_plan_names_the_file_the_field_and_the_fix(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "dc1.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(PlanError) as error:
        read_plan(path)
    assert error.value.source == str(path)
    assert str(error.value).startswith(f"{path}: ") and message in error.value.message
    # A JSON document of the wrong shape: the preview names the same problem, as its own input error
    # (the preview reads the file's bytes itself, to name encodings and nesting).
    if content is not None and content.startswith('{"'):
        with pytest.raises(PreviewInputError) as preview_error:
            load_snapshot(path)
        assert message in preview_error.value.message


def test_a_resource_listed_twice_is_refused(dc1: dict[str, Any]) -> None:
    doubled = {**dc1, "resources": [*dc1["resources"], dc1["resources"][0]]}
    with pytest.raises(PlanError, match="appears twice"):
        parse_plan(doubled, source="pr.json")


def test_wire_values_clean_to_the_plan_form() -> None:
    secret = {plan_format.SIG_KEY: plan_format.SECRET_SIG, "value": "hunter2"}
    wire = {"a": 2.0, "b": 2.5, "c": [secret, plan_format.UNKNOWN_STRING], "__defaults": [], "d": {"e": 1}}
    assert clean_wire_value(wire) == {"a": 2, "b": 2.5, "c": ["[secret]", "[unknown]"], "d": {"e": 1}}


def test_the_policy_pack_spells_the_tokens_and_markers_as_the_plan_format() -> None:
    """The pack is its own distribution and cannot import webex_cloud: its copies are pinned here."""
    for name in (
        "INSTANCE",
        "SERVER_GROUP",
        "VOLUME",
        "SEC_GROUP_RULE",
        "SUBNET",
        "PORT",
        "LOAD_BALANCER",
        "LB_MEMBER",
        "LB_MEMBERS",
        "REMOTE_COMMAND",
        "CONTROLLER_PAIR",
    ):
        assert getattr(pack_model, name) == getattr(plan_format, name), name
    assert pack_values.UNKNOWN_STRING == plan_format.UNKNOWN_STRING
    assert plan_format.UNKNOWN_STRING in pack_values.UNKNOWN_SENTINELS


def test_every_component_token_is_one_the_program_registers(dc1: dict[str, Any]) -> None:
    registered = {r["type"] for r in dc1["resources"]}
    for token in (
        plan_format.DATACENTER,
        plan_format.SERVICE,
        plan_format.SERVICE_NETWORK,
        plan_format.POD,
        plan_format.VOLUME_GROUP,
        plan_format.CONTROLLER_PAIR,
        plan_format.INSTANCE,
        plan_format.SERVER_GROUP,
        plan_format.VOLUME,
        plan_format.VOLUME_ATTACH,
        plan_format.PORT,
        plan_format.SEC_GROUP_RULE,
    ):
        assert token in registered, token


def _doc_example() -> str:
    text = (REPO / "docs" / "plan-format.md").read_text()
    match = re.search(r"```jsonc\n(.*?)```", text, re.S)
    assert match is not None
    return match.group(1)


def _all_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _all_keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _all_keys(v)}
    return set()


def _keys(block: str) -> set[str]:
    return set(re.findall(r'"([A-Za-z_]+)":', block))


def test_the_documented_example_names_the_fields_the_writer_writes(dc1: dict[str, Any]) -> None:
    example = _doc_example()
    documented = _keys(example)
    service = next(s for s in dc1["services"].values() if s["volume_groups"] and s["pods"])
    written = {
        "top level": set(dc1),
        "datacenter": set(dc1["datacenter"]),
        "datacenter.controllers": set(dc1["datacenter"]["controllers"]),
        "services.<name>": set(service),
        "services.<name>.pods[]": set(service["pods"][0]),
        "services.<name>.volume_groups[]": set(service["volume_groups"][0]),
        "resources[]": set(dc1["resources"][0]),
    }
    for where, keys in written.items():
        assert keys <= documented, f"{where}: {sorted(keys - documented)} not in docs/plan-format.md"
    # And the page names no field the writer does not write (at any depth of the document).
    everything = _all_keys(dc1)
    assert documented <= everything, sorted(documented - everything)
    assert re.search(r'"controllers": \{', example), "controllers is an object"


def test_no_workflow_spells_the_plan_format_itself() -> None:
    """The workflows run project commands; the plan document is written only through plan/format.py."""
    for workflow in sorted((REPO / ".github" / "workflows").glob("*.yml")):
        text = workflow.read_text()
        assert plan_format.FORMAT not in text and '"format":' not in text, workflow.name
