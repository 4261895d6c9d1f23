"""The Glance view on recorded Glance v2 listings: pages joined by the top-level ``next`` link (followed
under the versioned endpoint, never off it), and the fields the image checks judge."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import pytest

from tests.images.helpers import ENDPOINT, GLANCE, page
from webex_cloud.cloud.errors import CloudError
from webex_cloud.cloud.images import image_pages, parse_image
from webex_cloud.cloud.paging import PAGE_SIZE


def test_the_listing_follows_glances_next_link_under_the_versioned_endpoint() -> None:
    """Glance's next link is ``/v2/images?...`` from the API root (glance 25.0.0 images.py); the session's
    endpoint already ends in /v2, so the request path is ``/images?...`` (as openstacksdk 4.22.0 does)."""
    calls: list[tuple[str, dict[str, Any]]] = []
    next_link = page(1)["next"]
    book = {"/images": page(1), next_link.removeprefix("/v2"): page(2)}

    def get(url: str, params: Mapping[str, Any]) -> Mapping[str, Any]:
        calls.append((url, dict(params)))
        return book[url]

    names = [r["name"] for r in image_pages(get, ENDPOINT, {"name": "webex-base-2026.11"})]
    assert names == ["webex-base-2026.11", "webex-base-2026.10", "webex-base-2026.11", "webex-media-2026.11"]
    assert calls == [
        ("/images", {"limit": PAGE_SIZE, "name": "webex-base-2026.11"}),
        ("/images?limit=2&marker=6a1e2f0c-1111-4c3e-9d7e-000000000002", {}),
    ]


def test_an_unversioned_endpoint_follows_the_link_as_given() -> None:
    seen: list[str] = []

    def get(url: str, params: Mapping[str, Any]) -> Mapping[str, Any]:
        seen.append(url)
        return page(1) if url == "/images" else page(2)

    list(image_pages(get, "http://glance.dc1:9292"))
    assert seen == ["/images", page(1)["next"]]


@pytest.mark.parametrize(
    "href",
    [
        "http://evil.example/v2/images?marker=a",
        "https://glance.dc1:9292/v2/images?marker=a",
        "//evil.example/v2/images",
    ],
)
def test_a_next_link_off_the_endpoint_is_refused_before_it_is_fetched(href: str) -> None:
    fetched: list[str] = []

    def get(url: str, params: Mapping[str, Any]) -> Mapping[str, Any]:
        fetched.append(url)
        return {**page(1), "next": href}

    with pytest.raises(CloudError, match="leaves the endpoint"):
        list(image_pages(get, ENDPOINT))
    assert fetched == ["/images"]


def test_a_body_without_images_is_an_error_naming_the_request() -> None:
    with pytest.raises(CloudError, match="GET /images: the response has no 'images' list"):
        list(image_pages(lambda url, params: {"error": "x"}, ENDPOINT))


def test_a_listing_that_never_ends_stops() -> None:
    def get(url: str, params: Mapping[str, Any]) -> Mapping[str, Any]:
        return {"images": [], "next": "/v2/images?marker=again"}

    with pytest.raises(CloudError, match="the listing does not end"):
        list(image_pages(get, ENDPOINT))


def test_parse_image_reads_glances_own_digest_of_the_bytes() -> None:
    image = parse_image(page(1)["images"][0])
    data = (GLANCE / "webex-base-2026.11.img").read_bytes()
    assert (image.status, image.os_hash_algo, image.size) == ("active", "sha512", len(data))
    assert image.os_hash_value == hashlib.sha512(data).hexdigest()
    assert (image.disk_format, image.container_format, image.min_disk, image.min_ram) == (
        "qcow2",
        "bare",
        20,
        2048,
    )


def test_an_image_still_importing_has_no_digest_yet() -> None:
    image = parse_image(page(2)["images"][1])
    assert (image.status, image.os_hash_algo, image.os_hash_value, image.size) == ("importing", "", "", None)
