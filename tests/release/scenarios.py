"""The release diffs the proof is made of, as edits of a project copy (shared with the fixture script)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.conftest import ProjectCopy
from webex_cloud.config.image_catalog import IMAGE_CATALOG

SERVICE = "meetings-media"
NEW_IMAGE = "webex-media-2026.12"


def _offer_new_image(project: ProjectCopy) -> None:
    """Pinned in the image catalog (a new build, its own bytes: docs/images.md), offered in each stack."""

    def pin(catalog: dict[str, Any]) -> None:
        current = next(e for e in catalog["images"] if e["name"] == "webex-media-2026.11")
        new = {**current, "name": NEW_IMAGE, "previous": current["name"]}
        new.update(source=current["source"].replace(current["name"], NEW_IMAGE), sha256="5" * 64)
        new["digests"] = {"sha512": "5" * 128}
        catalog["images"].append(new)

    project.edit(IMAGE_CATALOG, pin)
    for stack in ("dc1", "dc2"):
        project.edit_datacenter(stack, lambda dc: dc["images"].append(NEW_IMAGE))


def _members(project: ProjectCopy, change: Callable[[list[dict[str, Any]]], None]) -> None:
    project.edit(f"catalog/{SERVICE}.yaml", lambda doc: change(doc["pods"]["members"]))


def _image(role: str | None) -> Callable[[list[dict[str, Any]]], None]:
    def change(members: list[dict[str, Any]]) -> None:
        for member in members:
            if role is None or member["role"] == role:
                member["image"] = NEW_IMAGE

    return change


def _flavor(members: list[dict[str, Any]]) -> None:
    members[0]["flavor"] = "m1.large"


def _scale_out(project: ProjectCopy) -> None:
    project.edit(f"catalog/{SERVICE}.yaml", lambda doc: doc["pods"].update(count=doc["pods"]["count"] + 1))


def apply(project: ProjectCopy, scenario: str) -> None:
    """Edit the project copy into the release ``scenario``."""
    _offer_new_image(project)
    if scenario == "image-one-role":
        _members(project, _image("relay"))
    elif scenario == "image-every-role":
        _members(project, _image(None))
    elif scenario == "flavor":
        _members(project, _flavor)
    elif scenario == "scale-out":
        _scale_out(project)
    elif scenario == "image-and-scale-out":
        _members(project, _image(None))
        _scale_out(project)
    elif scenario != "base":
        raise ValueError(scenario)


SCENARIOS = ("image-one-role", "image-every-role", "flavor", "scale-out", "image-and-scale-out")
DOWNTIME_ON_MAIN = ("image-one-role", "image-every-role", "flavor")
"""The diffs that disrupt serving pods: before the gates, they took more than one pod down at once."""


def trim_to_service(plan: dict[str, Any]) -> dict[str, Any]:
    """The plan cut down to :data:`SERVICE`: its resources, their component ancestors and the providers
    (all the disruption count reads; the plans of main in tests/data/release are stored this way)."""
    resources = plan["resources"]
    assert isinstance(resources, list)
    by_urn = {r["urn"]: r for r in resources}
    keep: set[str] = set()
    for r in resources:
        chain, current = [], r
        while current is not None:
            chain.append(current)
            current = by_urn.get(current["parent"])
        if any(c["name"] == SERVICE and c["type"] == "webex:service:Service" for c in chain):
            keep |= {c["urn"] for c in chain}
    keep |= {r["urn"] for r in resources if r["type"].startswith("pulumi:")}
    services = plan["services"]
    assert isinstance(services, dict)
    return {
        **plan,
        "services": {SERVICE: services[SERVICE]},
        "resources": [r for r in resources if r["urn"] in keep],
    }
