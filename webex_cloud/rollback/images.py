"""The images a stack's last good deploy names and boots, read from its record (last_good.py).

The record holds the data of the deploy, not Glance ids: the image catalog of the time
(catalog/images/images.yaml, each entry pinned by its bytes) and the stack's file. What it boots is
planned again from that data with this checkout's loader, as its rollback would plan it; the
other stacks' files (the peers' address pools the loader derives) are this checkout's.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from webex_cloud.config.errors import CatalogError
from webex_cloud.config.image_catalog import IMAGE_CATALOG, ImageCatalog, ImageEntry, parse_catalog
from webex_cloud.config.loader import DATACENTER_KEY, known_stacks, parse_datacenter
from webex_cloud.config.yaml_source import parse_yaml
from webex_cloud.images.usage import load_stack_images
from webex_cloud.paths import stack_file
from webex_cloud.rollback.last_good import LastGood, LastGoodError


def _label(record: LastGood, path: str) -> str:
    return f"{path} of {record.stack}'s last good deploy (commit {record.commit[:12]})"


def recorded_catalog(record: LastGood) -> ImageCatalog | None:
    """The image catalog the deploy had (None: a deploy from before the image catalog existed)."""
    data = record.files.get(IMAGE_CATALOG)
    if data is None:
        return None
    label = _label(record, IMAGE_CATALOG)
    try:
        return parse_catalog(parse_yaml(data.text, label), label)
    except CatalogError as error:
        raise LastGoodError(error.render()) from None


def offered(record: LastGood) -> list[str]:
    """The images the recorded stack file offers (``images:``): names a rollback of it may boot."""
    label = _label(record, stack_file(record.stack))
    try:
        document = parse_yaml(record.files[stack_file(record.stack)].text, label)
        config = document.get("config") if isinstance(document, dict) else None
        raw = config.get(DATACENTER_KEY) if isinstance(config, dict) else None
        return list(parse_datacenter(raw, record.stack).images)
    except CatalogError as error:
        raise LastGoodError(error.render()) from None


def booted(record: LastGood, project_dir: Path) -> dict[str, ImageEntry]:
    """Image -> its recorded catalog entry (its bytes), for every image the recorded deploy boots."""
    catalog = recorded_catalog(record)
    with tempfile.TemporaryDirectory(prefix="last-good-") as folder:
        root = Path(folder)
        for peer in known_stacks(project_dir):
            target = root / stack_file(peer)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text((project_dir / stack_file(peer)).read_text(encoding="utf-8"), encoding="utf-8")
        for relative, data in record.files.items():
            target = root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(data.text, encoding="utf-8")
        try:
            used = load_stack_images(root, record.stack).used
        except CatalogError as error:
            raise LastGoodError(
                f"{record.stack}'s last good deploy (commit {record.commit[:12]}) cannot be planned with "
                f"this checkout: {error.render()}; deploy {record.stack} again with this checkout"
            ) from None
    if catalog is None:
        return {}
    return {name: entry for name in used if (entry := catalog.get(name)) is not None}
