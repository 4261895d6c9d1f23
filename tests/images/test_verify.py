"""The verdict of each image in a datacenter, from recorded Glance records: verified by Glance's own
digest of the stored bytes, or blocked with the reason and the fix."""

from __future__ import annotations

import hashlib
from typing import Any

from tests.images.helpers import GLANCE, catalog_document, entry, records
from webex_cloud.cloud.images import GlanceImage, parse_image
from webex_cloud.config.image_catalog import ImageCatalog, parse_catalog
from webex_cloud.config.image_ids import image_roles
from webex_cloud.images.verify import judge, judge_stack

BASE_ID = "6a1e2f0c-1111-4c3e-9d7e-000000000001"
OTHER_ID = "6a1e2f0c-1111-4c3e-9d7e-000000000003"
PREVIOUS_ID = "6a1e2f0c-1111-4c3e-9d7e-000000000002"


def glance(*drop: str) -> dict[str, list[GlanceImage]]:
    by_name: dict[str, list[GlanceImage]] = {}
    for raw in records():
        if raw["id"] not in drop:
            by_name.setdefault(raw["name"], []).append(parse_image(raw))
    return by_name


def catalog(**base: Any) -> ImageCatalog:
    return parse_catalog(
        catalog_document(
            entry("webex-base-2026.10"),
            entry("webex-base-2026.11", previous="webex-base-2026.10", **base),
            entry("webex-media-2026.11", min_disk_gb=40, min_ram_mb=8192),
        )
    )


def test_the_one_image_with_the_catalogs_bytes_is_verified_by_id_with_its_rollback_image() -> None:
    verdict = judge_stack("dc1", catalog(), {"webex-base-2026.11": ("messaging",)}, glance(OTHER_ID))
    [base] = verdict.images
    assert base.verified and base.image_id == BASE_ID and base.users == ("messaging",)
    data = (GLANCE / "webex-base-2026.11.img").read_bytes()
    assert (base.os_hash_algo, base.os_hash_value, base.size) == (
        "sha512",
        hashlib.sha512(data).hexdigest(),
        len(data),
    )
    assert verdict.blocking == [] and verdict.rollback["webex-base-2026.11"].image_id == PREVIOUS_ID


def test_a_name_that_resolves_to_two_images_blocks_even_when_one_is_right() -> None:
    verdict = judge(catalog().entries[1], glance()["webex-base-2026.11"], ("messaging",), "dc1")
    assert not verdict.verified and verdict.image_id is None
    assert "resolves to 2 images" in verdict.findings[0]
    assert any(OTHER_ID in f and "its bytes are not the catalog's" in f for f in verdict.findings)


def test_other_bytes_under_the_name_block_naming_the_fix() -> None:
    verdict = judge(catalog().entries[1], glance(BASE_ID)["webex-base-2026.11"], ("messaging",), "dc1")
    assert not verdict.verified
    assert verdict.findings == (
        next(f for f in verdict.findings if f.startswith(f"{OTHER_ID}: its bytes are not the catalog's")),
    )
    assert "delete it and import the source again" in verdict.findings[0]


def test_an_image_still_importing_is_not_verified() -> None:
    verdict = judge(catalog().entries[2], glance()["webex-media-2026.11"], ("meetings-media",), "dc1")
    assert not verdict.verified and "importing, not active" in verdict.findings[0]


def test_a_missing_image_names_its_source_to_import() -> None:
    verdict = judge_stack("dc2", catalog(), {"webex-base-2026.11": ("messaging",)}, {})
    [image] = verdict.blocking
    assert (
        "not in Glance of dc2: import it (web-download of https://artifacts.webex.example/"
        in image.findings[0]
    )
    assert not verdict.rollback["webex-base-2026.11"].verified


def test_a_glance_hashing_with_an_algorithm_the_catalog_lacks_asks_for_that_digest() -> None:
    raw = {**records()[0], "os_hash_algo": "sha384", "os_hash_value": "ab" * 48}
    verdict = judge(catalog().entries[1], [parse_image(raw)], ("messaging",), "dc1")
    assert "add digests.sha384" in verdict.findings[0]


def test_a_glance_configured_for_sha256_is_compared_with_the_catalogs_sha256() -> None:
    data = (GLANCE / "webex-base-2026.11.img").read_bytes()
    raw = {**records()[0], "os_hash_algo": "sha256", "os_hash_value": hashlib.sha256(data).hexdigest()}
    assert judge(catalog().entries[1], [parse_image(raw)], ("messaging",), "dc1").verified


def test_formats_minimums_and_signature_must_be_the_catalogs() -> None:
    signed = catalog(
        min_ram_mb=4096, signature={"img_signature": "c2ln", "img_signature_hash_method": "SHA-256"}
    )
    verdict = judge(signed.entries[1], glance(OTHER_ID)["webex-base-2026.11"], ("messaging",), "dc1")
    assert not verdict.verified
    text = " ".join(verdict.findings)
    assert "min_disk/min_ram 20 GB/2048 MB are not the catalog's 20 GB/4096 MB" in text
    assert "signature property img_signature is None" in text
    assert "img_signature_hash_method" in text


def test_a_rollback_images_own_previous_is_looked_up_and_recorded_as_retiring() -> None:
    """Two releases back: the stack keeps it registered, unprotected, only where it is verified here
    (webex_cloud/config/image_ids.py registered_images), so the verification looks it up too."""
    chain = parse_catalog(
        catalog_document(
            entry("webex-base-2026.10"),
            entry("webex-base-2026.11", previous="webex-base-2026.10"),
            entry("webex-base-2026.12", previous="webex-base-2026.11"),
        )
    )
    used = {"webex-base-2026.12": ("messaging",)}
    expected = {"webex-base-2026.12", "webex-base-2026.11", "webex-base-2026.10"}
    assert image_roles(used, chain).every == expected
    verdict = judge_stack("dc1", chain, used, glance(OTHER_ID))
    assert verdict.rollback["webex-base-2026.12"].image_id == BASE_ID
    assert {k: v.image_id for k, v in verdict.retiring.items()} == {"webex-base-2026.11": PREVIOUS_ID}
    # Never blocking: only the booted image is (here it is not in Glance yet).
    assert [v.name for v in verdict.blocking] == ["webex-base-2026.12"]
