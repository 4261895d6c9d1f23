"""The image catalog (``catalog/images/images.yaml``): one entry per image, pinned by its bytes.

An entry names the image, the URL each datacenter's Glance imports it from (``web-download``: Glance
fetches it from inside the datacenter, never through the runner), its sha256 (the digest the build
published), the digest Glance reports (``os_hash_value`` for Glance's ``hashing_algorithm``, sha512 by
default, ``glance/common/config.py`` of glance 25.0.0 (Zed)), the disk and container format, the minimum
disk and RAM, optional signature properties and the image it replaces (``previous``, the rollback image).

Source URLs: ``http``/``https`` only (the schemes Glance's web-download accepts by default,
``[import_filtering_opts] allowed_schemes``, glance/async_/flows/_internal_plugins/__init__.py, Zed), on a
host of ``artifact_hosts``; an address that is link-local (the metadata service 169.254.169.254 among
them), unspecified or multicast, or inside a stack's management network, is refused even when listed.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from webex_cloud.config.errors import CatalogError, Problem
from webex_cloud.config.yaml_source import read_yaml

IMAGE_CATALOG: Final = "catalog/images/images.yaml"
"""Relative to the checkout; a folder of its own, so the service loader (catalog/*.yaml) never reads it."""

SCHEMES: Final = ("http", "https")
DISK_FORMATS: Final = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop")
"""Glance's default ``[image_format] disk_formats`` (glance/common/config.py, Zed)."""
CONTAINER_FORMATS: Final = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
"""Glance's default ``[image_format] container_formats`` (glance/common/config.py, Zed)."""
HASH_LENGTHS: Final = {"sha256": 64, "sha384": 96, "sha512": 128}
"""The digests an entry may record (hex characters each); Glance's os_hash_algo is one of hashlib's."""
SIGNATURE_KEYS: Final = (
    "img_signature",
    "img_signature_hash_method",
    "img_signature_key_type",
    "img_signature_certificate_uuid",
)
_NAME = re.compile(r"^\S{1,255}$")
_HEX = re.compile(r"^[0-9a-f]+$")
_ENTRY_KEYS: Final = frozenset(
    {"name", "source", "sha256", "digests", "disk_format", "container_format", "min_disk_gb"}
    | {"min_ram_mb", "size_bytes", "signature", "previous"}
)


@dataclass(frozen=True)
class ImageEntry:
    name: str
    source: str
    sha256: str
    disk_format: str
    container_format: str
    min_disk_gb: int
    min_ram_mb: int
    digests: dict[str, str] = field(default_factory=dict)
    """Algorithm -> hex digest, sha256 included: what a Glance ``os_hash_value`` is compared with."""
    signature: dict[str, str] = field(default_factory=dict)
    previous: str | None = None
    """The catalog image this one replaces: what a rollback boots (and what cleanup must keep)."""
    size_bytes: int | None = None
    """The file's size, when given: Glance's ``size`` must equal it (and the PR check shows it)."""


@dataclass(frozen=True)
class ImageCatalog:
    file: str
    artifact_hosts: tuple[str, ...]
    entries: tuple[ImageEntry, ...]

    def get(self, name: str) -> ImageEntry | None:
        return next((e for e in self.entries if e.name == name), None)

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.entries]


def _forbidden_address(host: str, management: Sequence[ipaddress.IPv4Network]) -> str | None:
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    if address.is_link_local:
        return "a link-local address (the metadata service 169.254.169.254 is one)"
    if address.is_unspecified or address.is_multicast:
        return "not a host address"
    for network in management:
        if address.version == 4 and address in network:
            return f"inside the management network {network}"
    return None


def _source(
    url: object, where: str, hosts: Sequence[str], management: Sequence[ipaddress.IPv4Network]
) -> Iterator[str]:
    if not isinstance(url, str) or not url:
        yield f"{where}: a source URL is required (http or https, on a host of artifact_hosts)"
        return
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES:
        yield (
            f"{where}: scheme {parts.scheme or '(none)'!r} of {url!r} is not one Glance's web-download "
            f"imports; use {' or '.join(SCHEMES)}"
        )
        return
    host = (parts.hostname or "").lower()
    if not host:
        yield f"{where}: {url!r} names no host"
        return
    if parts.username or parts.password:
        yield f"{where}: {url!r} carries credentials; artifact hosts are read without them"
    bad = _forbidden_address(host, management)
    if bad is not None:
        yield (
            f"{where}: {host} is {bad}; Glance fetches sources from inside the datacenter, so never "
            "from there: serve the image from an artifact host"
        )
    elif host not in hosts:
        yield (
            f"{where}: host {host!r} is not in artifact_hosts ({', '.join(hosts) or 'none'}); add it there "
            "if it is an artifact host, or fix the URL"
        )


def _digest(value: object, algorithm: str, where: str) -> Iterator[str]:
    length = HASH_LENGTHS[algorithm]
    if not isinstance(value, str) or len(value) != length or not _HEX.match(value):
        yield (
            f"{where}: not a {algorithm} digest (got {value!r}); write its {length} lowercase hex "
            f"characters (`{algorithm}sum FILE`)"
        )


def _count(value: object, where: str) -> Iterator[str]:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        yield f"{where}: a whole number >= 0 is required (got {value!r})"


def parse_catalog(
    document: object, file: str = IMAGE_CATALOG, management: Sequence[ipaddress.IPv4Network] = ()
) -> ImageCatalog:
    """The catalog of ``document`` (parsed YAML); raises CatalogError with every problem."""
    problems: list[Problem] = []

    def problem(where: str, message: str) -> None:
        problems.append(Problem(file, where, message))

    if not isinstance(document, dict):
        raise CatalogError([Problem(file, "", "the file must hold a mapping with artifact_hosts and images")])
    for key in sorted(set(document) - {"artifact_hosts", "images"}):
        problem(str(key), "unknown key; valid keys: artifact_hosts, images")
    raw_hosts = document.get("artifact_hosts")
    if not isinstance(raw_hosts, list) or not all(isinstance(h, str) and h for h in raw_hosts):
        problem("artifact_hosts", "a list of host names Glance may import images from is required")
        raw_hosts = []
    hosts = tuple(str(h).lower() for h in raw_hosts)
    raw_images = document.get("images")
    if not isinstance(raw_images, list) or not raw_images:
        problem("images", "a list of images (name, source, sha256, formats, minimums) is required")
        raw_images = []
    entries: list[ImageEntry] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_images):
        at = f"images[{i}]"
        if not isinstance(raw, dict):
            problem(at, "an image entry must be a mapping")
            continue
        before = len(problems)
        for key in sorted(set(raw) - _ENTRY_KEYS, key=str):
            problem(f"{at}.{key}", f"unknown key; valid keys: {', '.join(sorted(_ENTRY_KEYS))}")
        name = raw.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            problem(f"{at}.name", f"an image name without spaces is required (got {name!r})")
        elif name in seen:
            problem(f"{at}.name", f"{name!r} is already images[{seen[name]}]; one entry per image")
        else:
            seen[name] = i
        for message in _source(raw.get("source"), "source", hosts, management):
            where, _, text = message.partition(": ")
            problem(f"{at}.{where}", text)
        for message in _digest(raw.get("sha256"), "sha256", "sha256"):
            problem(f"{at}.sha256", message.partition(": ")[2])
        digests = {"sha256": str(raw.get("sha256", ""))}
        raw_digests = raw.get("digests") or {}
        if not isinstance(raw_digests, dict):
            problem(f"{at}.digests", "a mapping algorithm -> hex digest is required (e.g. sha512: ...)")
            raw_digests = {}
        for algorithm, value in raw_digests.items():
            if algorithm not in HASH_LENGTHS or algorithm == "sha256":
                problem(
                    f"{at}.digests.{algorithm}",
                    f"unknown algorithm; use one of {', '.join(a for a in HASH_LENGTHS if a != 'sha256')} "
                    "(sha256 is its own field)",
                )
                continue
            for message in _digest(value, algorithm, algorithm):
                problem(f"{at}.digests.{algorithm}", message.partition(": ")[2])
            digests[str(algorithm)] = str(value)
        disk, container = raw.get("disk_format"), raw.get("container_format")
        if disk not in DISK_FORMATS:
            problem(
                f"{at}.disk_format",
                f"{disk!r} is not a Glance disk format; use one of {', '.join(DISK_FORMATS)}",
            )
        if container not in CONTAINER_FORMATS:
            problem(
                f"{at}.container_format",
                f"{container!r} is not a Glance container format; use one of {', '.join(CONTAINER_FORMATS)}",
            )
        for key in ("min_disk_gb", "min_ram_mb"):
            for message in _count(raw.get(key, 0), key):
                problem(f"{at}.{key}", message.partition(": ")[2])
        size = raw.get("size_bytes")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 1):
            problem(
                f"{at}.size_bytes",
                f"the file's size in bytes (a whole number > 0) is required (got {size!r})",
            )
        signature = raw.get("signature") or {}
        if not isinstance(signature, dict) or any(
            k not in SIGNATURE_KEYS or not isinstance(v, str) for k, v in signature.items()
        ):
            problem(f"{at}.signature", f"a mapping of {', '.join(SIGNATURE_KEYS)} to text is required")
            signature = {}
        elif signature and "img_signature" not in signature:
            problem(f"{at}.signature", "img_signature is required when any signature property is given")
        previous = raw.get("previous")
        if previous is not None and not isinstance(previous, str):
            problem(f"{at}.previous", "the name of the catalog image this one replaces is required")
        if len(problems) > before:
            continue
        entries.append(
            ImageEntry(
                name=str(name),
                source=str(raw["source"]),
                sha256=str(raw["sha256"]),
                disk_format=str(disk),
                container_format=str(container),
                min_disk_gb=int(raw.get("min_disk_gb", 0)),
                min_ram_mb=int(raw.get("min_ram_mb", 0)),
                digests=digests,
                signature={str(k): str(v) for k, v in signature.items()},
                previous=previous,
                size_bytes=size,
            )
        )
    names = set(seen)
    for entry in entries:
        if entry.previous is not None and entry.previous not in names:
            at = f"images[{seen[entry.name]}].previous"
            problem(at, f"{entry.previous!r} is not in the catalog; keep the image it replaces as an entry")
        elif entry.previous == entry.name:
            problem(f"images[{seen[entry.name]}].previous", "an image cannot replace itself")
    if problems:
        raise CatalogError(problems)
    return ImageCatalog(file=file, artifact_hosts=hosts, entries=tuple(entries))


def load_catalog(project_dir: Path, management: Sequence[ipaddress.IPv4Network] = ()) -> ImageCatalog:
    """The checkout's image catalog; raises CatalogError (a missing file names the fix)."""
    path = project_dir / IMAGE_CATALOG
    if not path.is_file():
        raise CatalogError(
            [
                Problem(
                    IMAGE_CATALOG, "", "no image catalog; create it with one entry per image (docs/images.md)"
                )
            ]
        )
    return parse_catalog(read_yaml(path, IMAGE_CATALOG), IMAGE_CATALOG, management)


def rollback_chain(catalog: ImageCatalog, names: Iterable[str]) -> dict[str, str]:
    """Image -> the image it replaces, for ``names`` that have one."""
    return {
        name: entry.previous
        for name in names
        if (entry := catalog.get(name)) is not None and entry.previous is not None
    }
