"""Glance images, read through a Session (GET only): the image checks' typed view.

Glance v2 pages its image list differently from Nova and Cinder (:mod:`webex_cloud.cloud.paging`): the
body carries ``images``, a ``first`` link and, while more remain, a top-level ``next`` link such as
``/v2/images?limit=200&marker=<id>``, a path from the API's root, version included (glance 25.0.0 (Zed)
to 33.0.0.0b2, ``glance/api/v2/images.py`` ``ResponseSerializer.index``: ``body['next'] = '/v2/images?%s'``).
The session's image endpoint is already versioned (``.../v2``), so the version segment is dropped before
the link is followed, as openstacksdk 4.22.0 does (``openstack/resource.py`` ``_get_next_link``: "Glance
has a next field in the main body", the ``/v2`` dropped); an absolute
link is followed only on the endpoint the listing started from (``paging.same_endpoint``: the token goes
with every GET).

Fields (glance ``ResponseSerializer._format_image``): ``os_hash_algo``/``os_hash_value`` are Glance's
"multihash", computed by Glance over the bytes it stored with its configured ``hashing_algorithm``
(default ``sha512``, ``glance/common/config.py``); both are null until the data is uploaded or imported.
``checksum`` is the legacy MD5 and is not used to verify anything here. A listing hides images with
``os_hidden: true`` unless asked (``os_hidden`` filter, default false), which is what a pod may boot by name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from webex_cloud.cloud.errors import CloudError
from webex_cloud.cloud.paging import MAX_PAGES, PAGE_SIZE, same_endpoint
from webex_cloud.cloud.session import Session

SIGNATURE_PROPERTIES: Final = (
    "img_signature",
    "img_signature_hash_method",
    "img_signature_key_type",
    "img_signature_certificate_uuid",
)
"""Glance's image signature properties (glance/common/signature_utils via cursive; api-ref
"Image signature verification")."""

Get = Callable[[str, Mapping[str, Any]], Mapping[str, Any]]


@dataclass(frozen=True)
class GlanceImage:
    id: str
    name: str
    status: str
    """queued, saving, uploading, importing, active, killed, deleted, deactivated, pending_delete."""
    os_hash_algo: str
    os_hash_value: str
    size: int | None
    disk_format: str
    container_format: str
    min_disk: int
    min_ram: int
    visibility: str
    protected: bool
    created_at: str
    owner: str = ""
    """The project that owns it: only the session's own images are ever cleanup candidates."""
    image_type: str = ""
    """``snapshot`` or ``backup`` on an image Nova made of a server (nova/compute/api.py
    ``API._create_image`` sets it; a shelved server's disk is such a snapshot, known to Nova only)."""
    properties: dict[str, str] = field(default_factory=dict)
    """The signature properties the image carries (``img_signature*``)."""


def _int(value: object, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def parse_image(raw: Mapping[str, Any]) -> GlanceImage:
    size = raw.get("size")
    return GlanceImage(
        id=str(raw.get("id", "")),
        name=str(raw.get("name") or ""),
        status=str(raw.get("status") or ""),
        os_hash_algo=str(raw.get("os_hash_algo") or "").lower(),
        os_hash_value=str(raw.get("os_hash_value") or "").lower(),
        size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        disk_format=str(raw.get("disk_format") or ""),
        container_format=str(raw.get("container_format") or ""),
        min_disk=_int(raw.get("min_disk")),
        min_ram=_int(raw.get("min_ram")),
        visibility=str(raw.get("visibility") or ""),
        protected=raw.get("protected") is True,
        created_at=str(raw.get("created_at") or ""),
        owner=str(raw.get("owner") or ""),
        image_type=str(raw.get("image_type") or ""),
        properties={k: str(raw[k]) for k in SIGNATURE_PROPERTIES if raw.get(k) is not None},
    )


def _relative_to_endpoint(link: str, endpoint: str) -> str:
    """A root-relative ``/v2/images?...`` link as a path under the versioned ``endpoint``."""
    if urlsplit(link).netloc or urlsplit(link).scheme or not link.startswith("/"):
        return link
    version = urlsplit(endpoint).path.rstrip("/").rsplit("/", 1)[-1]
    head, _, rest = link[1:].partition("/")
    if version and head == version:
        return "/" + rest
    return link


def image_pages(
    get: Get, endpoint: str, params: Mapping[str, Any] | None = None, path: str = "/images"
) -> Iterator[Mapping[str, Any]]:
    """Every image record of a Glance v2 listing, its ``next`` links followed only on ``endpoint``."""
    url: str | None = path
    query: Mapping[str, Any] = {"limit": PAGE_SIZE, **(params or {})}
    for _ in range(MAX_PAGES):
        if url is None:
            return
        body = get(url, query)
        records = body.get("images")
        if not isinstance(records, list):
            raise CloudError(f"GET {path}: the response has no 'images' list")
        yield from (r for r in records if isinstance(r, Mapping))
        link = body.get("next")
        url = None
        if isinstance(link, str) and link:
            url = _relative_to_endpoint(same_endpoint(link, endpoint, path), endpoint)
        query = {}  # the next link carries the filters, the limit and the marker
    raise CloudError(f"GET {path}: more than {MAX_PAGES} pages of {PAGE_SIZE}; the listing does not end")


def read_images(session: Session, name: str | None = None) -> tuple[GlanceImage, ...]:
    """The images the session's project can see (``name``: only those of exactly that name)."""
    params = {"name": name} if name is not None else {}
    endpoint = session.endpoint("image")
    return tuple(
        parse_image(r)
        for r in image_pages(lambda url, query: session.get("image", url, query), endpoint, params)
    )


def read_image(session: Session, image_id: str) -> GlanceImage | None:
    """One image by id, hidden ones too (``GET /v2/images/{id}``); None when Glance has none by that id
    (404: deleted, or never visible to this project). Raises CloudError on any other failure."""
    try:
        return parse_image(session.get("image", f"/images/{image_id}"))
    except CloudError as error:
        if error.status == 404:
            return None
        raise


def delete_image(session: Session, image_id: str) -> bool:
    """Delete one image (an operator session only: ``Session.send``); False when it was already gone.

    Glance answers 204, or 403 for a ``protected`` image (``ProtectedImageDelete``) and 409 for one
    whose data its store still uses (``InUseByStore``), glance/api/v2/images.py
    ``ImagesController.delete``: those refusals are a CloudError, never retried (Session.send)."""
    try:
        session.send("image", "DELETE", f"/images/{image_id}")
    except CloudError as error:
        if error.status == 404:
            return False
        raise
    return True
