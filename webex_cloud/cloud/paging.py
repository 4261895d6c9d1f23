"""Paginated listings of Nova and Cinder (``servers_links`` / ``volumes_links``), followed only on the
endpoint a listing started from: the session sends its token with every GET, so a ``next`` link naming
another host would hand the token to that host."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final
from urllib.parse import urlsplit

from webex_cloud.cloud.errors import CloudError

PAGE_SIZE: Final = 200
"""Records per page; pages are followed through the ``next`` links, at most MAX_PAGES."""
MAX_PAGES: Final = 500

Get = Callable[[str, Mapping[str, Any]], Mapping[str, Any]]
"""One GET: a path or an absolute ``next`` link and its query parameters -> the decoded JSON body."""


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def same_endpoint(link: str, endpoint: str, path: str) -> str:
    """``link`` if it stays on ``endpoint`` (same scheme, host and port; a relative link does)."""
    if not urlsplit(link).netloc and not urlsplit(link).scheme:
        return link
    if _origin(link) != _origin(endpoint):
        raise CloudError(
            f"GET {path}: the API's next link {link!r} leaves the endpoint {endpoint!r} the listing "
            "started from; refused (the token would go there). Check the service catalog and any "
            "proxy in front of the API"
        )
    return link


def pages(get: Get, path: str, key: str, endpoint: str = "") -> Iterator[Mapping[str, Any]]:
    """Every record of a paginated list, its ``next`` links followed only on ``endpoint``."""
    url: str | None = path
    params: Mapping[str, Any] = {"limit": PAGE_SIZE}
    for _ in range(MAX_PAGES):
        if url is None:
            return
        body = get(url, params)
        records = body.get(key)
        if not isinstance(records, list):
            raise CloudError(f"GET {path}: the response has no {key!r} list")
        yield from (r for r in records if isinstance(r, Mapping))
        links = body.get(f"{key}_links") or []
        url = next(
            (link.get("href") for link in links if isinstance(link, Mapping) and link.get("rel") == "next"),
            None,
        )
        if url is not None:
            url = same_endpoint(url, endpoint, path)
        params = {}  # the next link carries the marker and the limit
    raise CloudError(f"GET {path}: more than {MAX_PAGES} pages of {PAGE_SIZE}; the listing does not end")
