"""What is in the cloud: the project's servers and volumes, read through the OpenStack API (GET only).

The records are parsed from the API's own JSON (``GET /servers/detail``, ``GET /volumes/detail``), so the
comparison is tested on records in exactly that shape. Which fields a caller sees depends on policy; the
rules named here are the defaults of the versions installed in .venv (nova 34, cinder 29; the loopback's
Zed shows the same fields to an admin and hides the same from a reader, tests/integration/test_live_audit.py):

- ``hostId``: every project reader sees it (rule ``os_compute_api:servers:detail``, default
  ``rule:project_reader_or_admin``, nova/policies/servers.py). It is ``sha224(project_id + host)``
  (nova/utils.py ``generate_hostid``): equal for two servers of one project exactly when they share a host,
  and meaningless across projects.
- ``OS-EXT-SRV-ATTR:host``, the host's name: rule ``os_compute_api:os-extended-server-attributes``, default
  ``rule:context_is_admin`` (= ``role:admin``), nova/policies/extended_server_attributes.py. Without it Nova
  leaves the key out of the response.
- ``os-vol-host-attr:host``, the volume's ``host@backend#pool``: rule
  ``volume_extension:volume_host_attribute``, default ``rule:admin_api`` (= ``is_admin:True or (role:admin
  and is_admin_project:True)``), cinder/policies/volumes.py. Without it Cinder leaves the key out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

HOST_RULE: Final = "os_compute_api:os-extended-server-attributes"
HOST_RULE_DEFAULT: Final = (
    "rule:context_is_admin (role:admin), nova 34 nova/policies/extended_server_attributes.py"
)
BACKEND_RULE: Final = "volume_extension:volume_host_attribute"
BACKEND_RULE_DEFAULT: Final = (
    "rule:admin_api (role:admin in the admin project), cinder 29 cinder/policies/volumes.py"
)
HOST_FIELD: Final = "OS-EXT-SRV-ATTR:host"
BACKEND_FIELD: Final = "os-vol-host-attr:host"
#: Servers and volumes per page; pages are followed through the ``next`` links, at most MAX_PAGES.
PAGE_SIZE: Final = 200
MAX_PAGES: Final = 500


class ReadError(Exception):
    """The cloud could not be read; the message says what was asked and what to do."""


@dataclass(frozen=True)
class Server:
    id: str
    name: str
    status: str
    metadata: dict[str, str]
    host_id: str
    """Nova's ``hostId`` ("" when the server is on no host)."""
    host: str | None
    """``OS-EXT-SRV-ATTR:host``; None when not visible or not placed."""


@dataclass(frozen=True)
class Volume:
    id: str
    name: str
    status: str
    metadata: dict[str, str]
    backend: str | None
    """``host@backend`` from ``os-vol-host-attr:host`` (pool dropped); None when not visible or not placed."""


@dataclass(frozen=True)
class Observation:
    """One read of a project: its servers and volumes and what the caller was allowed to see of them."""

    servers: tuple[Server, ...]
    volumes: tuple[Volume, ...]
    host_names_visible: bool
    backends_visible: bool
    project: str = ""


def _strings(value: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, Mapping) else {}


def parse_server(raw: Mapping[str, Any]) -> Server:
    host = raw.get(HOST_FIELD)
    return Server(
        id=str(raw.get("id", "")),
        name=str(raw.get("name") or ""),
        status=str(raw.get("status") or ""),
        metadata=_strings(raw.get("metadata")),
        host_id=str(raw.get("hostId") or ""),
        host=str(host) if host else None,
    )


def parse_volume(raw: Mapping[str, Any]) -> Volume:
    host = raw.get(BACKEND_FIELD)
    return Volume(
        id=str(raw.get("id", "")),
        name=str(raw.get("name") or ""),
        status=str(raw.get("status") or ""),
        metadata=_strings(raw.get("metadata")),
        backend=str(host).partition("#")[0] if host else None,
    )


def observe(
    servers: Sequence[Mapping[str, Any]], volumes: Sequence[Mapping[str, Any]], project: str = ""
) -> Observation:
    """An observation from raw API records. A field is visible when the API returned its key at all:
    Nova and Cinder omit a key the caller's policy hides, and send it as null for an unplaced resource."""
    return Observation(
        servers=tuple(parse_server(s) for s in servers),
        volumes=tuple(parse_volume(v) for v in volumes),
        host_names_visible=any(HOST_FIELD in s for s in servers),
        backends_visible=any(BACKEND_FIELD in v for v in volumes),
        project=project,
    )


Get = Callable[[str, Mapping[str, Any]], Mapping[str, Any]]
"""One GET: a path or an absolute ``next`` link and its query parameters -> the decoded JSON body."""


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def _same_endpoint(link: str, endpoint: str, path: str) -> str:
    """``link`` if it stays on ``endpoint`` (same scheme, host and port; a relative link does): the
    session sends its token with every GET, so a ``next`` link naming another host would hand the
    token to that host."""
    if not urlsplit(link).netloc and not urlsplit(link).scheme:
        return link
    if _origin(link) != _origin(endpoint):
        raise ReadError(
            f"GET {path}: the API's next link {link!r} leaves the endpoint {endpoint!r} the listing "
            "started from; refused (the token would go there). Check the service catalog and any "
            "proxy in front of the API"
        )
    return link


def pages(get: Get, path: str, key: str, endpoint: str = "") -> Iterator[Mapping[str, Any]]:
    """Every record of a paginated list (Nova's ``servers_links``, Cinder's ``volumes_links``), its
    ``next`` links followed only on ``endpoint``, the service's URL the listing started from."""
    url: str | None = path
    params: Mapping[str, Any] = {"limit": PAGE_SIZE}
    for _ in range(MAX_PAGES):
        if url is None:
            return
        body = get(url, params)
        records = body.get(key)
        if not isinstance(records, list):
            raise ReadError(f"GET {path}: the response has no {key!r} list")
        yield from (r for r in records if isinstance(r, Mapping))
        links = body.get(f"{key}_links") or []
        url = next(
            (link.get("href") for link in links if isinstance(link, Mapping) and link.get("rel") == "next"),
            None,
        )
        if url is not None:
            url = _same_endpoint(url, endpoint, path)
        params = {}  # the next link carries the marker and the limit
    raise ReadError(f"GET {path}: more than {MAX_PAGES} pages of {PAGE_SIZE}; the listing does not end")


def read_cloud(conn: Any) -> Observation:
    """Read the project of an openstacksdk connection: two paginated GETs, nothing else."""
    from openstack import exceptions

    def getter(proxy: Any, service: str) -> Get:
        def get(url: str, params: Mapping[str, Any]) -> Mapping[str, Any]:
            try:
                response = proxy.get(url, params=dict(params))
                exceptions.raise_from_response(response)
                body = response.json()
            except exceptions.SDKException as error:
                raise ReadError(f"{service}: GET {url} failed: {error}") from None
            except ValueError as error:
                raise ReadError(f"{service}: GET {url} returned no JSON ({error})") from None
            if not isinstance(body, Mapping):
                raise ReadError(f"{service}: GET {url} returned {type(body).__name__}, not an object")
            return body

        return get

    servers = list(
        pages(getter(conn.compute, "Nova"), "/servers/detail", "servers", str(conn.compute.get_endpoint()))
    )
    volumes = list(
        pages(
            getter(conn.block_storage, "Cinder"),
            "/volumes/detail",
            "volumes",
            str(conn.block_storage.get_endpoint()),
        )
    )
    return observe(servers, volumes, project=str(conn.current_project_id or ""))
