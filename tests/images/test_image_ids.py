"""Instances boot their image by its verified id, and the switch from names to ids rebuilds no pod.

The proof is the offline diff of a checkpoint recorded by the program that booted by name (inputs
``imageName``, outputs ``imageId``/``imageName`` as the provider's Read records them) against the plan
that boots by id: terraform-provider-openstack v3.4.0 ``resource_openstack_compute_instance_v2.go``
declares ``image_id``/``image_name`` Optional+Computed, not ForceNew (:63-72), records both at Read
(:1560-1600) and rebuilds only on ``d.HasChange`` of one of them (:1094); webex_cloud/facts/provider.py
``IMAGE_REFERENCE`` holds that, and webex_cloud/preview/offline.py applies it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.audit.fakes import STACK
from tests.conftest import REPO
from tests.drift.fakes import IMAGE_ID, diff_deployed, site
from webex_cloud.audit.expected import expected_from_plan
from webex_cloud.change.model import Action, ChangeSet
from webex_cloud.config.errors import CatalogError
from webex_cloud.config.image_catalog import load_catalog
from webex_cloud.config.image_ids import (
    ENVIRONMENT,
    RECORD_FORMAT,
    STAND_IN,
    image_ids,
    plan_setting,
)
from webex_cloud.facts.provider import IMAGE, IMAGE_REFERENCE, Disruption, disruption, forces_replacement
from webex_cloud.facts.stand_ins import image_name as stand_in_name
from webex_cloud.facts.stand_ins import image_stand_in as stand_in
from webex_cloud.plan.document import render_plan
from webex_cloud.plan.format import INSTANCE, dumps, parse_plan
from webex_cloud.preview.offline import diff_snapshots
from webex_cloud.preview.plans import snapshot_from_plan

OTHER_ID = "0b8c1f7e-7e0c-4c53-9d1f-6f1b1b1b0099"


def _record(path: Path, ids: dict[str, str], stack: str = STACK, verified: bool = True) -> Path:
    images = [{"name": name, "verified": verified, "id": ident} for name, ident in sorted(ids.items())]
    path.write_text(json.dumps({"format": "webex-cloud.images/v1", "stack": stack, "images": images}))
    return path


@pytest.fixture(scope="module")
def stand_in_plan() -> dict[str, Any]:
    return render_plan(STACK, project_dir=REPO)


def _booted(plan: dict[str, Any]) -> dict[str, str]:
    return {name: str(stand_in_name(value)) for name, value in plan["image_ids"].items()}


def _instances(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in plan["resources"] if r["type"] == INSTANCE]


def _by_name_checkpoint(plan: dict[str, Any]) -> bytes:
    """What the deployed stack's checkpoint holds, written by the program that booted by name."""
    parsed = parse_plan(plan, source="plan")
    cloud = site(parsed, expected_from_plan(parsed, "plan"))
    # That program registered no Glance image: they were imported by hand.
    cloud.resources = [r for r in cloud.resources if r["type"] != IMAGE]
    for resource in cloud.resources:
        if resource["type"] == INSTANCE:
            del resource["inputs"]["imageId"]
            name = resource["outputs"]["imageName"]
            resource["inputs"]["imageName"] = name
            resource["outputs"] |= {"imageName": name, "imageId": IMAGE_ID}
    return json.dumps(cloud.checkpoint()).encode()


def _instance_changes(changes: ChangeSet) -> list[Any]:
    return [c for c in changes.changes if c.type == INSTANCE]


def test_the_provider_names_an_image_by_an_optional_computed_pair_that_is_not_force_new() -> None:
    # terraform-provider-openstack v3.4.0 resource_openstack_compute_instance_v2.go :63-72 and :1094.
    assert IMAGE_REFERENCE[INSTANCE] == ("imageId", "imageName")
    for key in IMAGE_REFERENCE[INSTANCE]:
        assert not forces_replacement(INSTANCE, key, frozenset())
        assert disruption(INSTANCE, key) is Disruption.REBUILD


def test_every_instance_boots_an_id_and_no_name(stand_in_plan: dict[str, Any]) -> None:
    catalog = {e.name: e.sha256 for e in load_catalog(REPO).entries}
    instances = _instances(stand_in_plan)
    assert instances
    for resource in instances:
        assert "imageName" not in resource["inputs"], resource["urn"]
        name = stand_in_name(resource["inputs"]["imageId"])
        assert resource["inputs"]["imageId"] == stand_in(str(name), catalog[str(name)])


def test_switching_a_deployed_stack_from_names_to_verified_ids_changes_no_instance(
    stand_in_plan: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkpoint = _by_name_checkpoint(stand_in_plan)
    monkeypatch.setenv(
        ENVIRONMENT, str(_record(tmp_path / "dc1.json", dict.fromkeys(_booted(stand_in_plan), IMAGE_ID)))
    )
    verified = render_plan(STACK, project_dir=REPO)
    assert {r["inputs"]["imageId"] for r in _instances(verified)} == {IMAGE_ID}
    changes = diff_deployed(checkpoint, verified)
    assert _instance_changes(changes) == []
    # What does change: each release wave's health gate, whose triggers name the image input
    # (imageName -> imageId), so each wave is probed once more; nothing is replaced on the cloud. The
    # images the pods boot are adopted by their verified id (tests/images/test_image_resources.py).
    assert {c.type for c in changes.changes} <= {"command:local:Command", IMAGE}
    # (A rollback image the record does not hold is not in this Glance: it is imported from its source.)
    images = [c for c in changes.changes if c.type == IMAGE]
    imported = {(c.new_inputs or {}).get("name") for c in images if c.action is Action.IMPORT}
    assert imported == set(_booted(stand_in_plan))
    assert {c.action for c in changes.changes if c.type == IMAGE} <= {Action.IMPORT, Action.CREATE}


def test_the_offline_plans_stand_ins_are_the_deployed_images_of_their_names(
    stand_in_plan: dict[str, Any],
) -> None:
    assert _instance_changes(diff_deployed(_by_name_checkpoint(stand_in_plan), stand_in_plan)) == []


def test_another_verified_id_rebuilds_in_place_and_replaces_nothing(
    stand_in_plan: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        ENVIRONMENT, str(_record(tmp_path / "dc1.json", dict.fromkeys(_booted(stand_in_plan), OTHER_ID)))
    )
    changes = _instance_changes(
        diff_deployed(_by_name_checkpoint(stand_in_plan), render_plan(STACK, project_dir=REPO))
    )
    assert len(changes) == len(_instances(stand_in_plan))
    for change in changes:
        assert change.action is Action.UPDATE
        assert [(p.path, p.new, p.forces_replace) for p in change.properties] == [
            ("imageId", OTHER_ID, False)
        ]


def test_a_pull_request_that_pins_other_bytes_shows_every_instance_of_the_image(
    stand_in_plan: dict[str, Any],
) -> None:
    changed = json.loads(dumps(stand_in_plan))
    name = next(iter(_booted(changed)))
    other = stand_in(name, "f" * 64)
    for resource in _instances(changed):
        if stand_in_name(resource["inputs"]["imageId"]) == name:
            resource["inputs"]["imageId"] = other
    base = snapshot_from_plan(stand_in_plan, source="base")
    changes = diff_snapshots(base, snapshot_from_plan(changed, source="pr"))
    rebuilt = _instance_changes(changes)
    assert rebuilt and all(c.action is Action.UPDATE for c in rebuilt)


def test_without_ids_the_program_refuses_and_names_the_setting() -> None:
    catalog = load_catalog(REPO)
    with pytest.raises(CatalogError) as caught:
        image_ids(STACK, ["webex-base-2026.11"], catalog, environ={})
    assert ENVIRONMENT in caught.value.render()
    assert "images --stack dc1" in caught.value.render()
    assert image_ids(STACK, ["webex-base-2026.11"], catalog, environ={ENVIRONMENT: STAND_IN})


@pytest.mark.parametrize(
    ("stack", "verified", "expected"),
    [("dc2", True, "is of stack 'dc2'"), (STACK, False, "is not verified in dc1")],
)
def test_a_record_of_another_stack_or_an_unverified_image_is_refused(
    tmp_path: Path, stack: str, verified: bool, expected: str
) -> None:
    record = _record(tmp_path / "r.json", {"webex-base-2026.11": IMAGE_ID}, stack=stack, verified=verified)
    with pytest.raises(CatalogError) as caught:
        image_ids(STACK, ["webex-base-2026.11"], None, environ={ENVIRONMENT: str(record)})
    assert expected in caught.value.render()
    assert str(record) in caught.value.render()


def test_plan_with_an_unreadable_record_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "webex_cloud", "plan", "--stack", STACK, "--out", str(out)],
        cwd=REPO,
        env={**os.environ, ENVIRONMENT: str(tmp_path / "missing.json")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "missing.json" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists() or not any(out.iterdir())


def test_a_deploy_names_its_own_record_and_the_peers_it_renders_beside_it_get_stand_ins(
    tmp_path: Path,
) -> None:
    # The deploy of dc1 names dc1's record; its policy step also renders dc2 (cross-stack checks), which
    # boots nothing there: a stand-in, not dc1's record (which would refuse dc2's images).
    record = tmp_path / "dc1.json"
    record.write_text(json.dumps({"format": RECORD_FORMAT, "stack": "dc1", "images": []}))
    environ = {ENVIRONMENT: str(record)}
    assert plan_setting("dc1", environ) == str(record)
    assert plan_setting("dc2", environ) == STAND_IN
    assert plan_setting("dc2", {}) == STAND_IN
    # A record that cannot be read is passed on, so that the loader names it in its error.
    missing = str(tmp_path / "none.json")
    assert plan_setting("dc2", {ENVIRONMENT: missing}) == missing
