"""The pull-request check runs `images --offline --base` and its comment shows what a PR does to images.

End to end in the workflow's layout (tests/preview/test_pr_check.py: this tree as ``pr/`` over a copy of
itself as ``base/``), then the comment's section alone from the files the step leaves.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.preview.test_pr_check import Layout, same_layout
from webex_cloud.commands import comment
from webex_cloud.exit_codes import ExitCode


def _pin_new_image(catalog: dict[str, Any]) -> None:
    current = next(e for e in catalog["images"] if e["name"] == "webex-base-2026.11")
    new = {**current, "name": "webex-base-2026.12", "previous": "webex-base-2026.11", "sha256": "6" * 64}
    catalog["images"].append({**new, "digests": {"sha512": "6" * 128}, "size_bytes": 2 * 2**30})


def _reuse_name(catalog: dict[str, Any]) -> None:
    current = next(e for e in catalog["images"] if e["name"] == "webex-base-2026.11")
    current["sha256"] = "7" * 64


@pytest.mark.full_tier
def test_a_pr_that_pins_a_new_image_shows_it_and_one_that_reuses_a_name_is_blocked(
    same_layout: Layout,
) -> None:
    layout = same_layout
    layout.edit("catalog/images/images.yaml", _pin_new_image)
    for stack in ("dc1", "dc2"):
        layout.edit(
            f"stacks/Pulumi.{stack}.yaml",
            lambda doc: doc["config"]["webex-cloud:datacenter"]["images"].append("webex-base-2026.12"),
        )
    done = layout.run("--stack", "dc1")
    body = layout.comment()
    assert "### Images — ✅ 1 image change" in body, body
    assert "| `webex-base-2026.12` | added | 2.00 GiB | no pod |" in body
    assert json.loads((layout.out / "images.json").read_text())["catalog_changes"][0]["change"] == "added"
    assert done.returncode == ExitCode.OK, done.stdout + done.stderr

    layout.edit("catalog/images/images.yaml", _reuse_name)
    done = layout.run("--stack", "dc1")
    body = layout.comment()
    assert done.returncode == ExitCode.BLOCKING, done.stdout + done.stderr
    assert "### Images — 🛑 1 image name kept for other bytes" in body, body
    line = next(line for line in body.splitlines() if line.startswith("| `webex-base-2026.11` |"))
    assert "🛑 other bytes: a new build needs a new name" in line and "`dc1`: " in line


def _step(
    out: Path,
    code: int,
    changes: list[dict[str, Any]],
    text: str = "",
    imports: dict[str, Any] | None = None,
) -> None:
    (out / "dc1").mkdir(parents=True)
    (out / f"{comment.IMAGES}.rc").write_text(f"{code}\n")
    (out / f"{comment.IMAGES}.txt").write_text(text)
    document: dict[str, Any] = {"format": "webex-cloud.images/v1", "catalog_changes": changes, "stacks": []}
    if imports is not None:
        document["catalog_imports"] = imports
    (out / f"{comment.IMAGES}.json").write_text(json.dumps(document))


def test_the_comment_lists_each_image_change_with_size_and_where_it_boots(tmp_path: Path) -> None:
    changes = [
        {
            "name": "webex-base-2026.12",
            "change": "added",
            "blocking": False,
            "size_bytes": 1288490188,
            "used_by": {"dc1": ["messaging", "controllers"], "dc2": ["messaging"]},
        },
        {
            "name": "webex-base-2026.10",
            "change": "removed",
            "blocking": False,
            "size_bytes": None,
            "used_by": {},
        },
    ]
    imports = {
        "dc1": {
            "images": ["webex-base-2026.12", "webex-media-2026.12"],
            "size_bytes": 1288490188,
            "unpinned": ["webex-media-2026.12"],
        },
        "dc2": {"images": ["webex-base-2026.12"], "size_bytes": 1288490188, "unpinned": []},
    }
    _step(tmp_path, ExitCode.OK, changes, imports=imports)
    body = comment.build(tmp_path, "0123456789abcdef")
    assert (
        "Each datacenter's Glance imports (web-download): `dc1` 1.20 GiB (2 images, 1 of a size not "
        "pinned); `dc2` 1.20 GiB (1 image)." in body
    )
    assert "### Images — ✅ 2 image changes" in body
    assert (
        "| `webex-base-2026.12` | added | 1.20 GiB | `dc1`: messaging, controllers; `dc2`: messaging |"
        in body
    )
    assert "| `webex-base-2026.10` | removed | size not pinned | no pod |" in body


def test_an_unusable_image_catalog_shows_the_error_and_a_change_moves_the_digest(tmp_path: Path) -> None:
    _step(tmp_path / "a", ExitCode.INPUT, [], "images: catalog/images/images.yaml: images[0].sha256: ...\n")
    body = comment.build(tmp_path / "a", "0123456789abcdef")
    assert "### Images — ❌ exit 2: the image catalog cannot be used" in body
    assert "images[0].sha256" in body
    _step(tmp_path / "b", ExitCode.OK, [])
    assert "### Images — ✅ no changes" in comment.build(tmp_path / "b", "0123456789abcdef")
    assert comment.digest_of(comment.build(tmp_path / "a", "0123456789ab")) != comment.digest_of(
        comment.build(tmp_path / "b", "0123456789ab")
    )


__all__ = ["same_layout"]
