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
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final

from webex_cloud.config.errors import CatalogError, Problem
from webex_cloud.config.image_catalog import IMAGE_CATALOG, ImageCatalog, load_catalog
from webex_cloud.config.resolved import Deployment
from webex_cloud.facts.stand_ins import image_stand_in

ENVIRONMENT: Final = "WEBEX_IMAGE_IDS"
"""Where the program takes image ids from: a verification record's path, or :data:`STAND_IN`."""
STAND_IN: Final = "stand-in"
"""The offline plan's value of :data:`ENVIRONMENT`: render stand-ins, reach no cloud."""
RECORD_FORMAT: Final = "webex-cloud.images/v1"
"""The verification record's ``format`` (written by webex_cloud/images/record.py)."""


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
    loader checked every booted image against it already)."""
    catalog = load_catalog(project_dir) if (project_dir / IMAGE_CATALOG).is_file() else None
    return image_ids(deployment.stack, booted_images(deployment), catalog, environ)


def booted_images(deployment: Deployment) -> set[str]:
    """The images the stack's instances boot: its pods' members, the controller proxies and the
    monitoring pair's nodes."""
    names = {member.image for item in deployment.services for member in item.service.pods.members}
    proxies = deployment.datacenter.controllers.proxies
    monitoring = deployment.datacenter.monitoring
    nodes = monitoring.instances if monitoring is not None else None
    return (
        names
        | ({proxies.image} if proxies is not None else set())
        | ({nodes.image} if nodes is not None else set())
    )


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


def _from_record(path: Path, stack: str, wanted: list[str]) -> dict[str, str]:
    fix = f"run `python -m webex_cloud images --stack {stack} --record-dir {path.parent}` again"
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
