"""Who may reach the controllers' APIs on the VIP: the ``api_sources`` of the stack config as prefixes.

The VIP (and with it every API rule or Octavia ``allowed_cidrs`` entry) is IPv4. An IPv6 prefix can
never reach an IPv4 address, and Octavia refuses an allowed CIDR of the other IP version, so only the
IPv4 prefixes of the named sources become rules. A source that holds *no* IPv4 prefix would grant
nothing and leave its callers locked out; it is rejected before anything is registered.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence

from webex_cloud.config.errors import CatalogError, Problem
from webex_cloud.config.loader import DATACENTER_KEY, stack_file
from webex_cloud.config.models import ControllerPlane

FIELD = f"config.{DATACENTER_KEY}.controllers.api_sources"
"""Field path of ``api_sources`` in a stack file, as problems name it."""


def _unusable(plane: ControllerPlane, sources: Mapping[str, Sequence[str]]) -> list[tuple[int, str, str]]:
    """(index, source, reason) of every api_sources entry that would grant nothing on the VIP."""
    out = []
    for index, source in enumerate(plane.api_sources):
        prefixes = [ipaddress.ip_network(p, strict=False) for p in sources.get(source, [])]
        if not any(p.version == plane.vip.version for p in prefixes):
            listed = ", ".join(str(p) for p in prefixes) or "nothing"
            out.append(
                (
                    index,
                    source,
                    f"source {source!r} holds no IPv{plane.vip.version} prefix ({listed}), but the API VIP "
                    f"{plane.vip} is IPv{plane.vip.version}: it could reach no API; name a source with "
                    f"IPv{plane.vip.version} prefixes (IPv6-only callers need an IPv4 path to the VIP)",
                )
            )
    return out


def api_prefixes(plane: ControllerPlane, sources: Mapping[str, Sequence[str]]) -> list[str]:
    """The sorted, distinct prefixes of ``plane.api_sources`` that can reach the VIP (its IP version).

    Raises ValueError if an entry would grant nothing (see :func:`check_api_sources`, which the
    program calls first so that this never happens half-way through a deployment).
    """
    bad = _unusable(plane, sources)
    if bad:
        raise ValueError(f"controllers.api_sources[{bad[0][0]}]: {bad[0][2]}")
    return sorted(
        {
            str(network)
            for source in plane.api_sources
            for network in (ipaddress.ip_network(p, strict=False) for p in sources[source])
            if network.version == plane.vip.version
        }
    )


def check_api_sources(stack: str, plane: ControllerPlane, sources: Mapping[str, Sequence[object]]) -> None:
    """Raise CatalogError naming ``controllers.api_sources[i]`` of the stack file for every entry that
    would leave the VIP without a rule for it."""
    text = {name: [str(p) for p in prefixes] for name, prefixes in sources.items()}
    problems = [
        Problem(stack_file(stack), f"{FIELD}[{index}]", reason) for index, _, reason in _unusable(plane, text)
    ]
    if problems:
        raise CatalogError(problems)
