"""Each stack registers its Glance images, imported by Glance from the catalog's source; the images
already there are adopted by their verified id, so no image is replaced and no pod rebuilt.

Provider facts (terraform-provider-openstack **v3.4.0**, the version pulumi-openstack 5.5.3 bridges;
``openstack/resource_openstack_images_image_v2.go``): ``image_source_url`` (:83), ``container_format``
(:46), ``disk_format`` (:55) are ForceNew; ``web_download`` (:170) makes the Create ask Glance to import
the URL itself (:277-292) and wait until active (:329-341); the Read (:359-403) records neither
``image_source_url`` nor ``web_download`` (the provider's import test ignores them,
``import_openstack_images_image_v2_test.go`` :28-35). Engine facts (pulumi/pulumi v3.259.0): an
``import`` whose id the state already holds is no import (``step_generator.go`` ``isImport``), and
``ignoreChanges`` applies to an import's diff (``continueStepsFromImport``).
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import pulumi_openstack as openstack
import pytest

from tests.audit.fakes import STACK
from tests.conftest import REPO
from tests.drift.fakes import IMAGE_ID, site
from webex_cloud.audit.expected import expected_from_plan
from webex_cloud.change.model import Action, ChangeSet
from webex_cloud.config.errors import CatalogError
from webex_cloud.config.image_catalog import load_catalog
from webex_cloud.config.image_ids import (
    ENVIRONMENT,
    IMPORT_PHASE,
    PHASE,
    RECORD_FORMAT,
    load_image_ids,
    load_registered_images,
    registered_images,
)
from webex_cloud.config.loader import load_deployment
from webex_cloud.facts.provider import IMAGE, IMAGE_UNREAD, forces_replacement
from webex_cloud.facts.stand_ins import image_name as stand_in_name
from webex_cloud.plan.document import render_plan
from webex_cloud.plan.format import INSTANCE, parse_plan
from webex_cloud.preview.offline import diff_snapshots
from webex_cloud.preview.plans import snapshot_from_plan
from webex_cloud.preview.state import decode_checkpoint
from webex_cloud.rollback.run import verified_ids

CATALOG = load_catalog(REPO)
BOOTED = ("webex-base-2026.11", "webex-media-2026.11")
HAND_IMPORTED = {
    "webex-base-2026.11": "6a1e2f0c-0000-4000-8000-000000000011",
    "webex-base-2026.10": "6a1e2f0c-0000-4000-8000-000000000010",
    "webex-media-2026.11": "6a1e2f0c-0000-4000-8000-000000000021",
    "webex-media-2026.10": "6a1e2f0c-0000-4000-8000-000000000020",
    "webex-store-2026.11": "6a1e2f0c-0000-4000-8000-000000000031",
    "webex-store-2026.10": "6a1e2f0c-0000-4000-8000-000000000030",
}


def _record(path: Path, ids: dict[str, str], verified: bool = True) -> Path:
    """A verification record as `images --stack` writes it: booted images, and their rollback images."""
    previous = {e.name: e.previous for e in CATALOG.entries if e.previous}
    booted = [n for n in ids if n in previous]
    rollback = {n: {"name": previous[n], "verified": verified, "id": ids[previous[n]]} for n in booted}
    images = [{"name": n, "verified": verified, "id": ids[n]} for n in booted]
    document = {"format": RECORD_FORMAT, "stack": STACK, "images": images, "rollback": rollback}
    path.write_text(json.dumps(document))
    return path


def _images(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["inputs"]["name"]: r for r in plan["resources"] if r["type"] == IMAGE}


def _checkpoint(plan: dict[str, Any], *, with_images: bool) -> bytes:
    """The stack deployed by ``plan`` (which boots the hand-imported ids): its images in the state
    (adopted already) or not (the program before this one registered none)."""
    parsed = parse_plan(plan, source="plan")
    cloud = site(parsed, expected_from_plan(parsed, "plan"))
    kept = []
    for resource in cloud.resources:
        if resource["type"] == IMAGE:
            if not with_images:
                continue
            resource["id"] = HAND_IMPORTED[resource["inputs"]["name"]]
            resource["outputs"]["id"] = resource["id"]
        kept.append(resource)
    cloud.resources = kept
    return json.dumps(cloud.checkpoint()).encode()


def _diff(checkpoint: bytes, plan: dict[str, Any]) -> ChangeSet:
    deployed = decode_checkpoint("webex-cloud", STACK, "dc1.json", checkpoint)
    return diff_snapshots(
        deployed.snapshot(), snapshot_from_plan(plan, source="plan"), old_only_keys_count=False
    )


@pytest.fixture(scope="module")
def stand_in_plan() -> dict[str, Any]:
    return render_plan(STACK, project_dir=REPO)


@pytest.fixture(scope="module")
def recorded_plan(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    record = _record(tmp_path_factory.mktemp("record") / "dc1.json", HAND_IMPORTED)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ENVIRONMENT, str(record))
        return render_plan(STACK, project_dir=REPO)


def test_the_pinned_provider_imports_by_web_download_and_replaces_on_a_new_source() -> None:
    # resource_openstack_images_image_v2.go v3.4.0 :43-59, :80-85, :170-175; the installed SDK bridges it.
    parameters = inspect.signature(openstack.images.Image._internal_init).parameters
    assert {"image_source_url", "web_download", "protected", "min_disk_gb", "min_ram_mb"} <= set(parameters)
    for key in ("imageSourceUrl", "containerFormat", "diskFormat"):
        assert forces_replacement(IMAGE, key, frozenset())
    for key in ("protected", "minDiskGb", "minRamMb", "name", "visibility", "properties", "webDownload"):
        assert not forces_replacement(IMAGE, key, frozenset())
    assert {"imageSourceUrl", "webDownload"} <= set(IMAGE_UNREAD)


def test_a_stack_registers_what_it_boots_and_what_a_rollback_boots_protected() -> None:
    images = {i.entry.name: i for i in registered_images(BOOTED, CATALOG, None)}
    assert {n for n, i in images.items() if i.in_use} == {
        *BOOTED,
        "webex-base-2026.10",
        "webex-media-2026.10",
    }
    assert not {n for n, i in images.items() if not i.in_use}  # the example catalog's chains are short
    assert all(i.adopt is None for i in images.values())


def test_a_rollback_images_own_previous_is_kept_unprotected_only_where_it_exists() -> None:
    older = CATALOG.entries[0]
    newer = CATALOG.get("webex-base-2026.10")
    assert newer is not None
    chained = type(CATALOG)(
        CATALOG.file,
        CATALOG.artifact_hosts,
        (
            *(e for e in CATALOG.entries if e.name != newer.name),
            type(newer)(**{**newer.__dict__, "previous": "webex-old"}),
            type(older)(**{**older.__dict__, "name": "webex-old", "previous": None}),
        ),
    )
    offline = {i.entry.name: i for i in registered_images(["webex-base-2026.11"], chained, None)}
    assert offline["webex-old"].in_use is False and offline["webex-base-2026.10"].in_use is True
    # A deploy keeps it only when the verification found it here: never imported just to let it go.
    assert "webex-old" not in {i.entry.name for i in registered_images(["webex-base-2026.11"], chained, {})}
    found = {
        i.entry.name: i for i in registered_images(["webex-base-2026.11"], chained, {"webex-old": "id-1"})
    }
    assert found["webex-old"].adopt == "id-1" and found["webex-old"].in_use is False


def test_each_image_is_imported_by_glance_from_the_catalog_source_and_protected_while_in_use(
    stand_in_plan: dict[str, Any],
) -> None:
    images = _images(stand_in_plan)
    booted = {str(stand_in_name(v)) for v in stand_in_plan["image_ids"].values()}
    assert booted and booted <= set(images)
    for name, resource in images.items():
        entry = CATALOG.get(name)
        assert entry is not None
        inputs = resource["inputs"]
        assert inputs["imageSourceUrl"] == entry.source and inputs["webDownload"] is True
        assert (inputs["diskFormat"], inputs["containerFormat"]) == (
            entry.disk_format,
            entry.container_format,
        )
        assert (inputs["minDiskGb"], inputs["minRamMb"]) == (entry.min_disk_gb, entry.min_ram_mb)
        # Glance's flag; not Pulumi's: dropping a `protect`ed resource fails `up` (a rollback's, too).
        assert inputs["protected"] is True and resource["protect"] is False
        assert resource["retainOnDelete"] is True and set(IMAGE_UNREAD) <= set(resource["ignoreChanges"])
        assert resource["importId"] == ""  # offline: nothing is known to be there
        assert resource["parent"].endswith(f"::{STACK}")  # a child of the datacenter: the deploy targets it


def test_images_already_verified_are_adopted_by_their_id(recorded_plan: dict[str, Any]) -> None:
    images = _images(recorded_plan)
    assert {n: r["importId"] for n, r in images.items() if r["importId"]} == {
        n: i for n, i in HAND_IMPORTED.items() if n in images
    }


def test_adoption_replaces_no_image_and_changes_no_pod(recorded_plan: dict[str, Any]) -> None:
    """Against the checkpoint of the program before this one (instances booting the verified ids, no
    image resource): every image is an import of the id the pods boot, and nothing else changes."""
    changes = _diff(_checkpoint(recorded_plan, with_images=False), recorded_plan)
    assert changes.changes
    assert {(c.type, c.action) for c in changes.changes} == {(IMAGE, Action.IMPORT)}
    # Once adopted, the next deploy plans nothing at all: the import is no import for the id it holds.
    assert _diff(_checkpoint(recorded_plan, with_images=True), recorded_plan).changes == ()


def test_an_image_whose_state_is_another_glance_image_is_shown_as_a_replace(
    recorded_plan: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine refuses it in `up` ("previously-imported resources that still specify an ID may not be
    replaced"), and the offline diff says so before: the verified id is not the one the state holds."""
    other = {**HAND_IMPORTED, "webex-base-2026.11": "6a1e2f0c-0000-4000-8000-0000000000ff"}
    monkeypatch.setenv(ENVIRONMENT, str(_record(tmp_path / "dc1.json", other)))
    changes = _diff(_checkpoint(recorded_plan, with_images=True), render_plan(STACK, project_dir=REPO))
    replaced = [c for c in changes.changes if c.action is Action.REPLACE and c.type == IMAGE]
    assert [c.name for c in replaced] == [f"{STACK}-image-webex-base-2026.11"]
    assert "importId" in replaced[0].replace_reasons[0]
    # Its pods are rebuilt in place onto the verified id, never replaced.
    assert all(c.action is Action.UPDATE for c in changes.changes if c.type == INSTANCE)


def test_the_import_phase_needs_no_verified_image_and_sends_no_instance_an_id(tmp_path: Path) -> None:
    """Before the import, the images found are the only ids known; the instances (untargeted then) get
    stand-ins, which no cloud accepts, where a run of the whole program refuses the record."""
    found = {"webex-base-2026.11": HAND_IMPORTED["webex-base-2026.11"], "webex-base-2026.10": IMAGE_ID}
    environ = {ENVIRONMENT: str(_record(tmp_path / "dc1.json", found))}
    deployment = load_deployment(REPO, STACK)
    with pytest.raises(CatalogError, match="not verified"):
        load_image_ids(REPO, deployment, environ)
    booted = load_image_ids(REPO, deployment, {**environ, PHASE: IMPORT_PHASE})
    assert booted and all(stand_in_name(ident) == name for name, ident in booted.items())
    images = {i.entry.name: i for i in load_registered_images(REPO, deployment, environ)}
    assert images["webex-base-2026.11"].adopt == HAND_IMPORTED["webex-base-2026.11"]
    assert images["webex-media-2026.11"].adopt is None  # not found: Glance imports it from its source


def test_a_rollback_adopts_the_retiring_images_the_failed_deploy_found(tmp_path: Path) -> None:
    """The last good data's rollback image is the failed release's retiring one: the rollback's record
    gives its verified id, so the rollback's program adopts it instead of importing it again."""
    deployed = tmp_path / "deployed.json"
    retiring = {"name": "webex-base-2026.09", "verified": True, "id": "id-09"}
    rollback = {"name": "webex-base-2026.10", "verified": True, "id": "id-10"}
    deployed.write_text(
        json.dumps(
            {
                "format": RECORD_FORMAT,
                "stack": STACK,
                "images": [{"name": "webex-base-2026.11", "verified": True, "id": "id-11"}],
                "rollback": {"webex-base-2026.11": rollback},
                "retiring": {"webex-base-2026.10": retiring},
            }
        )
    )
    written = verified_ids(deployed, STACK, tmp_path / "project")
    assert isinstance(written, Path)
    record = json.loads(written.read_text())
    assert {i["name"]: i["id"] for i in record["images"]} == {
        "webex-base-2026.11": "id-11",
        "webex-base-2026.10": "id-10",
        "webex-base-2026.09": "id-09",
    }
