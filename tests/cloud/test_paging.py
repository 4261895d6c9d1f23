"""Listings follow their pages, and only on the endpoint they started from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from webex_cloud.cloud.errors import CloudError
from webex_cloud.cloud.paging import PAGE_SIZE, pages


def test_pages_follows_next_links_and_stops() -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    book = {
        "/servers/detail": {
            "servers": [{"id": "a"}],
            "servers_links": [{"rel": "next", "href": "http://x/p2"}],
        },
        "http://x/p2": {"servers": [{"id": "b"}]},
    }

    def get(url: str, params: Mapping[str, Any]) -> Mapping[str, Any]:
        calls.append((url, dict(params)))
        return book[url]

    assert [r["id"] for r in pages(get, "/servers/detail", "servers", "http://x:80/v2.1")] == [
        "a",
        "b",
    ]
    assert calls == [("/servers/detail", {"limit": PAGE_SIZE}), ("http://x/p2", {})]


@pytest.mark.parametrize(
    "href",
    [
        "http://evil.example/v2.1/servers/detail?marker=a",  # another host
        "https://nova.dc1:8774/v2.1/servers/detail?marker=a",  # another scheme
        "http://nova.dc1:9999/v2.1/servers/detail?marker=a",  # another port
        "http://nova.dc1.evil.example:8774/v2.1/servers/detail",  # a look-alike host
    ],
)
def test_a_next_link_off_the_endpoint_is_refused_before_it_is_fetched(href: str) -> None:
    """The session sends its token with each GET: a `next` link to another host would hand it over."""
    fetched: list[str] = []

    def get(url: str, params: Mapping[str, Any]) -> Mapping[str, Any]:
        fetched.append(url)
        return {"servers": [{"id": "a"}], "servers_links": [{"rel": "next", "href": href}]}

    with pytest.raises(CloudError, match="leaves the endpoint") as refused:
        list(pages(get, "/servers/detail", "servers", "http://nova.dc1:8774/v2.1"))
    assert fetched == ["/servers/detail"] and href in str(refused.value)


def test_a_next_link_on_the_endpoint_or_relative_is_followed() -> None:
    book = {
        "/servers/detail": {"servers": [{"id": "a"}], "servers_links": [{"rel": "next", "href": "/p2"}]},
        "/p2": {"servers": [{"id": "b"}], "servers_links": [{"rel": "next", "href": "HTTP://Nova.dc1/p3"}]},
        "HTTP://Nova.dc1/p3": {"servers": [{"id": "c"}]},
    }
    found = pages(lambda url, _: book[url], "/servers/detail", "servers", "http://nova.dc1:80/v2.1")
    assert [r["id"] for r in found] == ["a", "b", "c"]


def test_a_listing_that_never_ends_is_an_error() -> None:
    def get(url: str, params: Mapping[str, Any]) -> Mapping[str, Any]:
        return {"volumes": [], "volumes_links": [{"rel": "next", "href": url}]}

    with pytest.raises(CloudError, match="does not end"):
        list(pages(get, "/volumes/detail", "volumes"))
