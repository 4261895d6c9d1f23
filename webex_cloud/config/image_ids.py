"""The Glance image id each instance boots: the verified one of ``images --stack`` (docs/images.md).

Instances reference their image by id, never by name (Glance names are not unique: Nova would boot
whichever image of that name it resolves). The id comes from the stack's verification record
(``build/images/<stack>.json``, written by ``python -m webex_cloud images --stack S``, which the deploy
runs before the preview and ``pulumi up``), named by :data:`ENVIRONMENT`. Only an image the record says
is verified there (one active image of that name whose bytes are the catalog's) gives an id.

The offline plan has no cloud to verify against: it renders a **stand-in** per image,
``[image NAME sha256:HEX]`` (webex_cloud/facts/stand_ins.py, the owner of every stand-in), which names
the catalog pin (so a plan that changes an image's name or
bytes shows the change) and which no cloud accepts (a plan's value is never booted). The offline diff
reads a stand-in as "the verified image of that name" (webex_cloud/preview/offline.py).

Switching from ``imageName`` to ``imageId`` rebuilds nothing: terraform-provider-openstack v3.4.0
declares both Optional and Computed, not ForceNew, records both from the server at every Read, and
rebuilds only when ``d.HasChange`` of one of them (webex_cloud/facts/provider.py, IMAGE_REFERENCE).

The same record says which Glance images the stack *registers* (:func:`registered_images`,
webex_cloud/components/images.py): an image found verified there is adopted by its id (Pulumi's
``import``), never imported again, so its id, and every pod booting it, stays. The deploy first applies
only the image resources (:data:`PHASE` = :data:`IMPORT_PHASE`, ``pulumi up --target``), then verifies
them, then runs the whole program with the record of that verification.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from webex_cloud.config.errors import CatalogError, Problem
from webex_cloud.config.image_catalog import IMAGE_CATALOG, ImageCatalog, ImageEntry, load_catalog
from webex_cloud.config.resolved import Deployment
from webex_cloud.facts.stand_ins import image_stand_in

ENVIRONMENT: Final = "WEBEX_IMAGE_IDS"
"""Where the program takes image ids from: a verification record's path, or :data:`STAND_IN`."""
STAND_IN: Final = "stand-in"
"""The offline plan's value of :data:`ENVIRONMENT`: render stand-ins, reach no cloud."""
RECORD_FORMAT: Final = "webex-cloud.images/v1"
"""The verification record's ``format`` (written by webex_cloud/images/record.py)."""
PHASE: Final = "WEBEX_IMAGE_PHASE"
"""Set to :data:`IMPORT_PHASE` by the deploy's image step only (.github/workflows/deploy-stack.yml)."""
IMPORT_PHASE: Final = "import"
"""The run applies the image resources alone (``pulumi up --target`` on them): the record may not verify
every image yet (they are being imported), so instances get stand-ins, which no cloud accepts and which
the targeted run never sends (an untargeted resource keeps its state: pulumi/pulumi v3.259.0
``pkg/resource/deploy/step_generator.go`` ``continueStepsFromImport``, "If not targeted, stub out the
provider check and use the old inputs directly")."""


@dataclass(frozen=True)
class RegisteredImage:
    """One Glance image a stack registers as a resource (webex_cloud/components/images.py)."""

    entry: ImageEntry
    in_use: bool
    """Its instances boot it, or a rollback would (its catalog ``previous``): Glance's ``protected``, so
    that neither cleanup (which skips protected images) nor ``openstack image delete`` removes an image in
    use. Otherwise it is *retiring* (a rollback image's own ``previous``): registered unprotected, so
    that once the program drops it (Pulumi then forgets it: ``retain_on_delete``) cleanup may remove it
    when nothing boots it."""
    adopt: str | None
    """The verified Glance id of the image already in this datacenter: imported into the state by that
    id (Pulumi's ``import``), never created again; None: Glance imports it from the catalog's source."""


def plan_setting(stack: str, environ: Mapping[str, str] = os.environ) -> str:
    """What the offline plan of ``stack`` renders: the ids of the record the caller named when it is
    that stack's record, else stand-ins. A deploy names its own stack's record, and the offline plans
    of the other stacks it renders beside it (the policy's cross-stack checks) boot nothing: their
    stand-ins are right. A record that cannot be read is passed on, for the loader's error."""
    setting = environ.get(ENVIRONMENT) or STAND_IN
    if setting == STAND_IN:
        return setting
    try:
        document = json.loads(Path(setting).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return setting
    of = document.get("stack") if isinstance(document, dict) else None
    return STAND_IN if isinstance(of, str) and of != stack else setting


def load_image_ids(project_dir: Path, deployment: Deployment, environ: Mapping[str, str]) -> dict[str, str]:
    """:func:`image_ids` of the instances ``deployment`` boots, with the checkout's catalog (if any: the
    loader checked every booted image against it already). In the :data:`IMPORT_PHASE`, stand-ins."""
    catalog = load_catalog(project_dir) if (project_dir / IMAGE_CATALOG).is_file() else None
    if environ.get(PHASE) == IMPORT_PHASE:
        environ = {**environ, ENVIRONMENT: STAND_IN}
    return image_ids(deployment.stack, booted_by(deployment), catalog, environ)


def load_registered_images(
    project_dir: Path, deployment: Deployment, environ: Mapping[str, str]
) -> tuple[RegisteredImage, ...]:
    """:func:`registered_images` of ``deployment`` with the checkout's catalog (none: nothing is
    registered) and the record :data:`ENVIRONMENT` names (stand-ins or none: nothing is found)."""
    if not (project_dir / IMAGE_CATALOG).is_file():
        return ()
    setting = environ.get(ENVIRONMENT, "")
    found = None if setting in ("", STAND_IN) else _found_in_record(Path(setting), deployment.stack)
    return registered_images(booted_by(deployment), load_catalog(project_dir), found)


@dataclass(frozen=True)
class ImageRoles:
    """The catalog images a stack keeps, by the part each plays there (disjoint sets of names)."""

    booted: frozenset[str]
    """What its instances boot (:func:`booted_by`)."""
    rollback: frozenset[str]
    """Each booted image's ``previous`` that nothing boots: what a rollback boots."""
    retiring: frozenset[str]
    """Each rollback image's own ``previous`` that is neither booted nor a rollback image."""

    @property
    def every(self) -> frozenset[str]:
        return self.booted | self.rollback | self.retiring


def image_roles(booted: Iterable[str], catalog: ImageCatalog) -> ImageRoles:
    """The roles of the images ``booted`` and their ``previous`` chains; names the catalog does not pin
    are the loader's error and are left out."""

    def previous(names: Iterable[str]) -> set[str]:
        return {e.previous for n in names if (e := catalog.get(n)) is not None and e.previous}

    used = {name for name in booted if catalog.get(name) is not None}
    replaced = previous(used)
    return ImageRoles(
        frozenset(used), frozenset(replaced - used), frozenset(previous(replaced) - used - replaced)
    )


def registered_images(
    booted: Iterable[str], catalog: ImageCatalog, found: Mapping[str, str] | None
) -> tuple[RegisteredImage, ...]:
    """What a stack registers, by name: its booted images and their rollback images (in use), and the
    rollback images' ``previous`` (retiring). ``found``: name -> verified id in this datacenter, from
    the record; None for the offline plan, which has no cloud and shows every retiring image (a deploy
    registers only those found: importing an image only to let it go would be a multi-GB transfer)."""
    roles = image_roles(booted, catalog)
    in_use = roles.booted | roles.rollback
    retiring = roles.retiring if found is None else roles.retiring & found.keys()
    return tuple(
        RegisteredImage(entry, entry.name in in_use, (found or {}).get(entry.name))
        for entry in catalog.entries
        if entry.name in in_use | retiring
    )


def _found_in_record(path: Path, stack: str) -> dict[str, str]:
    """Name -> verified id of every image the record found in ``stack``'s Glance (booted, rollback and
    retiring images alike); a record that cannot be read is the loader's error (:func:`image_ids`)."""
    document = _read_record(path, stack)
    items = [
        *(document.get("images") or []),
        *(document.get("rollback") or {}).values(),
        *(document.get("retiring") or {}).values(),
    ]
    return {
        item["name"]: item["id"]
        for item in items
        if isinstance(item, dict)
        and item.get("verified") is True
        and isinstance(item.get("name"), str)
        and isinstance(item.get("id"), str)
    }


MONITORING: Final = "monitoring"
"""The user :func:`booted_by` names for the monitoring pair's nodes."""
CONTROLLERS: Final = "controllers"
"""The user :func:`booted_by` names for the controller proxies."""


def booted_by(deployment: Deployment) -> dict[str, tuple[str, ...]]:
    """Image -> what boots it in this stack (service names, :data:`CONTROLLERS`, :data:`MONITORING`),
    by name. The one list of a stack's instances' images: the image resources the stack registers
    (:func:`registered_images`), the ids its instances boot (:func:`load_image_ids`) and what ``images
    --stack`` verifies (webex_cloud/images/usage.py) all read it, so none of them can miss an image
    another one has."""
    users: dict[str, set[str]] = {}
    for item in deployment.services:
        for member in item.service.pods.members:
            users.setdefault(member.image, set()).add(item.service.name)
    proxies = deployment.datacenter.controllers.proxies
    if proxies is not None:
        users.setdefault(proxies.image, set()).add(CONTROLLERS)
    monitoring = deployment.datacenter.monitoring
    if monitoring is not None and monitoring.instances is not None:
        users.setdefault(monitoring.instances.image, set()).add(MONITORING)
    return {name: tuple(sorted(found)) for name, found in sorted(users.items())}


def image_ids(
    stack: str, names: Iterable[str], catalog: ImageCatalog | None, environ: Mapping[str, str] = os.environ
) -> dict[str, str]:
    """Image name -> the id instances of ``stack`` boot, for every name in ``names``.

    Raises CatalogError naming :data:`ENVIRONMENT` or the record, the image and the fix.
    """
    wanted = sorted(set(names))
    setting = environ.get(ENVIRONMENT, "")
    if setting == STAND_IN:
        pins = {entry.name: entry.sha256 for entry in catalog.entries} if catalog is not None else {}
        return {name: image_stand_in(name, pins.get(name)) for name in wanted}
    if not setting:
        raise CatalogError(
            [
                Problem(
                    ENVIRONMENT,
                    "",
                    "instances boot verified image ids, and none were given: run `python -m webex_cloud "
                    f"images --stack {stack}` and set {ENVIRONMENT}=build/images/{stack}.json (the deploy "
                    "does both before the preview and `pulumi up`; docs/images.md)",
                )
            ]
        )
    return _from_record(Path(setting), stack, wanted)


def _fix(path: Path, stack: str) -> str:
    return f"run `python -m webex_cloud images --stack {stack} --record-dir {path.parent}` again"


def _read_record(path: Path, stack: str) -> dict[str, Any]:
    """The record of ``stack`` at ``path``; raises CatalogError naming the record and the fix."""
    fix = _fix(path, stack)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        reason = getattr(error, "strerror", None) or type(error).__name__
        raise CatalogError(
            [Problem(str(path), "", f"unreadable verification record ({reason}); {fix}")]
        ) from None
    if not isinstance(document, dict) or document.get("format") != RECORD_FORMAT:
        raise CatalogError([Problem(str(path), "format", f"not a {RECORD_FORMAT} record; {fix}")])
    if document.get("stack") != stack:
        raise CatalogError(
            [
                Problem(
                    str(path),
                    "stack",
                    f"the record is of stack {document.get('stack')!r}, not {stack!r}; {fix}",
                )
            ]
        )
    return document


def _from_record(path: Path, stack: str, wanted: list[str]) -> dict[str, str]:
    fix = _fix(path, stack)
    document = _read_record(path, stack)
    verified = {
        item.get("name"): item.get("id")
        for item in document.get("images") or []
        if isinstance(item, dict) and item.get("verified") is True and isinstance(item.get("id"), str)
    }
    problems = [
        Problem(
            str(path),
            "images",
            f"image {name!r} is not verified in {stack} (missing, not active, or other bytes); {fix} and "
            "follow its findings",
        )
        for name in wanted
        if not verified.get(name)
    ]
    if problems:
        raise CatalogError(problems)
    return {name: str(verified[name]) for name in wanted}
