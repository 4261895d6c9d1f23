"""The recorded Glance listing (tests/data/glance) and an image catalog pinning its placeholder bytes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.conftest import REPO

GLANCE = REPO / "tests" / "data" / "glance"
ENDPOINT = "http://glance.dc1:9292/v2/"
"""The versioned image endpoint openstacksdk's image proxy reports."""


def page(number: int) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((GLANCE / f"images-page-{number}.json").read_text())
    return data


def records() -> list[dict[str, Any]]:
    return [*page(1)["images"], *page(2)["images"]]


def entry(name: str, file: Path | None = None, **overrides: Any) -> dict[str, Any]:
    data = (
        (file or GLANCE / f"{name}.img").read_bytes() if (file or (GLANCE / f"{name}.img").exists()) else b""
    )
    raw: dict[str, Any] = {
        "name": name,
        "source": f"https://artifacts.webex.example/images/{name}.qcow2",
        "sha256": hashlib.sha256(data).hexdigest(),
        "digests": {"sha512": hashlib.sha512(data).hexdigest()},
        "disk_format": "qcow2",
        "container_format": "bare",
        "min_disk_gb": 20,
        "min_ram_mb": 2048,
    }
    raw.update(overrides)
    return raw


def catalog_document(
    *entries: Mapping[str, Any], hosts: tuple[str, ...] = ("artifacts.webex.example",)
) -> dict[str, Any]:
    return {"artifact_hosts": list(hosts), "images": [dict(e) for e in entries]}
