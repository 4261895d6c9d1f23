"""Everything of one project that drift compares with the checkpoint, read through a Session (GET only).

The records stay the APIs' own JSON (``GET /servers/detail``, ``/volumes/detail``, ``/os-server-groups``,
Neutron's ``/ports``, ``/networks``, ``/subnets``, ``/security-groups``, ``/security-group-rules``), so the
comparison (webex_cloud/drift/) is tested on records of exactly that shape. Neutron's paths are relative
to its versioned endpoint (``/v2.0``), as openstacksdk's own network proxy sends them
(openstack/network/v2/port.py ``base_path = '/ports'``); its listings are paginated with the same
``limit``/``<key>_links`` scheme as Nova's (neutron ``api/api_common.py``, ``allow_pagination``).

Compute services (``GET /os-services``) are admin-only by default (nova/policies/services.py): a reader
that is refused gets ``compute_services = None`` and drift says it could not check the hosts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from webex_cloud.cloud.errors import CloudError
from webex_cloud.cloud.session import Session
from webex_cloud.cloud.views import ComputeService, read_compute_services, read_servers, read_volumes

Record = Mapping[str, Any]


@dataclass(frozen=True)
class Inventory:
    """One read of a project, as the APIs listed it."""

    project: str
    servers: Sequence[Record]
    volumes: Sequence[Record]
    server_groups: Sequence[Record]
    networks: Sequence[Record]
    ports: Sequence[Record]
    security_groups: Sequence[Record]
    security_group_rules: Sequence[Record]
    compute_services: tuple[ComputeService, ...] | None
    """None: the identity may not list them (``os_compute_api:os-services:list``, admin by default)."""
    compute_services_error: str = ""
    subnets: Sequence[Record] = ()
    """Every subnet the identity sees (shared ones too, as ``networks``): what the plan's lookups of a
    subnet by name are answered from (webex_cloud/drift/lookups.py)."""


def _owned(session: Session, path: str, key: str, project: str) -> list[Record]:
    """A Neutron listing cut to the project: an administrator's token lists every project's ports and
    rules (Neutron filters by project only for non-admins), so the records are kept by ``project_id``
    (``tenant_id`` on older Neutron)."""
    return [
        r
        for r in session.listing("network", path, key)
        if str(r.get("project_id") or r.get("tenant_id") or "") == project
    ]


def read_server_groups(session: Session) -> list[Record]:
    """The project's server groups (``GET /os-server-groups``; paginated by ``limit``/``offset`` in Nova,
    one page of Nova's ``max_limit`` (1000) is read: a project holds far fewer)."""
    body = session.get("compute", "/os-server-groups", {"limit": 1000})
    groups = body.get("server_groups")
    if not isinstance(groups, list):
        raise CloudError(f"cloud {session.cloud!r}: Nova: GET /os-server-groups: no 'server_groups' list")
    return [g for g in groups if isinstance(g, Mapping)]


def read_inventory(session: Session) -> Inventory:
    """Servers, volumes, server groups, networks, ports, security groups and rules of the session's
    project, and the compute services when the identity may list them."""
    try:
        services: tuple[ComputeService, ...] | None = read_compute_services(session)
        refused = ""
    except CloudError as error:
        services, refused = None, str(error)
    project = session.project_id
    return Inventory(
        project=project,
        servers=read_servers(session),
        volumes=read_volumes(session),
        server_groups=read_server_groups(session),
        networks=list(session.listing("network", "/networks", "networks")),
        ports=_owned(session, "/ports", "ports", project),
        security_groups=_owned(session, "/security-groups", "security_groups", project),
        security_group_rules=_owned(session, "/security-group-rules", "security_group_rules", project),
        compute_services=services,
        compute_services_error=refused,
        subnets=list(session.listing("network", "/subnets", "subnets")),
    )
