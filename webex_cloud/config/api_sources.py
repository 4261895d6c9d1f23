"""Who may reach the controllers' APIs on the VIP: the ``api_sources`` of the stack config as prefixes.

The VIP (and with it every API rule or Octavia ``allowed_cidrs`` entry) is IPv4. An IPv6 prefix can
never reach an IPv4 address, and Octavia refuses an allowed CIDR of the other IP version, so only the
IPv4 prefixes of the named sources become rules. A source that holds *no* IPv4 prefix would grant
nothing and leave its callers locked out: the loader reports it with every other problem of the
stack (:func:`unusable_api_sources`), so :func:`api_prefixes` only ever sees usable sources.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping, Sequence

from webex_cloud.config.models import ControllerPlane


def _networks(prefixes: Sequence[object]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(str(p), strict=False) for p in prefixes]


def unusable_api_sources(
    plane: ControllerPlane, sources: Mapping[str, Sequence[object]]
) -> Iterator[tuple[int, str]]:
    """(index, reason) of every ``api_sources`` entry that would grant nothing on the VIP."""
    version = plane.vip.version
    for index, source in enumerate(plane.api_sources):
        if source not in sources:
            continue  # an unknown source is the model's own problem (Datacenter validator)
        prefixes = _networks(sources[source])
        if not any(p.version == version for p in prefixes):
            listed = ", ".join(str(p) for p in prefixes) or "nothing"
            yield (
                index,
                f"source {source!r} holds no IPv{version} prefix ({listed}), but the API VIP "
                f"{plane.vip} is IPv{version}: it could reach no API; name a source with "
                f"IPv{version} prefixes (IPv6-only callers need an IPv4 path to the VIP)",
            )


def api_prefixes(plane: ControllerPlane, sources: Mapping[str, Sequence[object]]) -> list[str]:
    """The sorted, distinct prefixes of ``plane.api_sources`` that can reach the VIP (its IP version)."""
    return sorted(
        {
            str(network)
            for source in plane.api_sources
            for network in _networks(sources[source])
            if network.version == plane.vip.version
        }
    )
