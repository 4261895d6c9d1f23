"""Typed views of the live cloud: servers, volumes and compute services, read through a Session (GET only).

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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from webex_cloud.cloud.errors import CloudError
from webex_cloud.cloud.session import Session

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
NO_VALID_HOST: Final = "No valid host was found."
"""How Nova's scheduling failure starts (nova 34 ``nova/exception.py``: ``NoValidHost.msg_fmt`` is
"No valid host was found. %(reason)s"). When every host is filtered out of a boot, the conductor buries the
instance in cell0 with ``vm_state`` ERROR and records the exception as its instance fault
(``nova/conductor/manager.py`` ``schedule_and_build_instances`` -> ``_bury_in_cell0``;
``nova/scheduler/utils.py`` ``set_vm_state_and_notify`` -> ``compute_utils.add_instance_fault_from_exc``,
whose message is the exception's ``format_message()``), and the API shows it as the server's ``fault``
(``code``, ``created``, ``message``) on ERROR and DELETED servers to anyone who may list them; only the
fault's ``details`` are admin-only for code 500 (``nova/api/openstack/compute/views/servers.py``
``_fault_statuses``, ``_get_fault``)."""


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
    task_state: str | None = None
    """``OS-EXT-STS:task_state`` (``migrating`` while a live migration runs); None when idle."""
    image_id: str = ""
    """The Glance image it booted from (``image.id``; Nova sends ``""`` for a server booted from a volume)."""
    fault: str = ""
    """The message of Nova's instance fault (``fault.message``, shown on ERROR servers); "" without one."""
    addresses: tuple[str, ...] = ()
    """Every IP address of its ports (``addresses``: network name -> ``[{"addr": ...}]``)."""


@dataclass(frozen=True)
class Volume:
    id: str
    name: str
    status: str
    metadata: dict[str, str]
    backend: str | None
    """``host@backend`` from ``os-vol-host-attr:host`` (pool dropped); None when not visible or not placed."""
    migration_status: str | None = None
    """``os-vol-mig-status-attr:migstat`` (admin only, ``volume_extension:volume_mig_status_attribute``):
    ``starting``/``migrating``/``completing`` while Cinder moves it, then ``success`` or ``error``;
    ``target:<id>`` on the temporary volume a migration creates (cinder 21.1.0 ``volume/manager.py``
    ``_migrate_volume_generic``), which an admin's listing shows under the same name."""
    volume_type: str = ""
    """The volume type's name (``volume_type``)."""
    attached_to: tuple[str, ...] = ()
    """The servers it is attached to (``attachments[].server_id``)."""
    multiattach: bool = False
    encrypted: bool = False
    replication_status: str | None = None


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
    image = raw.get("image")
    fault = raw.get("fault")
    return Server(
        id=str(raw.get("id", "")),
        name=str(raw.get("name") or ""),
        status=str(raw.get("status") or ""),
        metadata=_strings(raw.get("metadata")),
        host_id=str(raw.get("hostId") or ""),
        host=str(host) if host else None,
        task_state=str(raw["OS-EXT-STS:task_state"]) if raw.get("OS-EXT-STS:task_state") else None,
        image_id=str(image.get("id") or "") if isinstance(image, Mapping) else "",
        fault=str(fault.get("message") or "") if isinstance(fault, Mapping) else "",
        addresses=_addresses(raw.get("addresses")),
    )


def _addresses(value: object) -> tuple[str, ...]:
    if not isinstance(value, Mapping):
        return ()
    found = [
        str(entry.get("addr"))
        for entries in value.values()
        if isinstance(entries, list)
        for entry in entries
        if isinstance(entry, Mapping) and entry.get("addr")
    ]
    return tuple(dict.fromkeys(found))


MIGRATION_FIELD: Final = "os-vol-mig-status-attr:migstat"


def parse_volume(raw: Mapping[str, Any]) -> Volume:
    host = raw.get(BACKEND_FIELD)
    attachments = raw.get("attachments")
    return Volume(
        id=str(raw.get("id", "")),
        name=str(raw.get("name") or ""),
        status=str(raw.get("status") or ""),
        metadata=_strings(raw.get("metadata")),
        backend=str(host).partition("#")[0] if host else None,
        migration_status=str(raw[MIGRATION_FIELD]) if raw.get(MIGRATION_FIELD) else None,
        volume_type=str(raw.get("volume_type") or ""),
        attached_to=tuple(
            str(a["server_id"])
            for a in (attachments if isinstance(attachments, list) else [])
            if isinstance(a, Mapping) and a.get("server_id")
        ),
        multiattach=bool(raw.get("multiattach")),
        encrypted=bool(raw.get("encrypted")),
        replication_status=str(raw["replication_status"]) if raw.get("replication_status") else None,
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


@dataclass(frozen=True)
class ComputeService:
    """One ``nova-compute`` service (``GET /os-services?binary=nova-compute``): a host Nova schedules to."""

    id: str
    host: str
    zone: str
    enabled: bool
    up: bool
    disabled_reason: str


MAINTENANCE_MARK: Final = "webex-maintenance:"
"""How the disabled_reason of a compute service that `maintain drain` disabled starts: drift reports such a
host as maintenance, and `maintain undrain` enables only such a host."""
COMPUTE_MICROVERSION: Final = {"OpenStack-API-Version": "compute 2.53"}
"""The header of the compute microversion the project's os-services and server-action calls use: 2.53
names compute services by UUID (nova/api/openstack/compute/services.py) and accepts ``os-migrateLive``
with ``host: null`` and ``block_migration: "auto"`` (2.25+); the instance actions are read at it too."""


def parse_compute_service(raw: Mapping[str, Any]) -> ComputeService:
    return ComputeService(
        id=str(raw.get("id", "")),
        host=str(raw.get("host") or ""),
        zone=str(raw.get("zone") or ""),
        enabled=raw.get("status") == "enabled",
        up=raw.get("state") == "up",
        disabled_reason=str(raw.get("disabled_reason") or ""),
    )


def read_servers(session: Session) -> list[Mapping[str, Any]]:
    return list(session.listing("compute", "/servers/detail", "servers"))


def servers_booting(session: Session, image_id: str) -> list[Server]:
    """The servers of every project that boot ``image_id``: Nova's ``image`` filter with
    ``all_tenants`` (an administrator's listing, ``os_compute_api:servers:index:get_all_tenants``,
    nova/policies/servers.py), one page is enough to know whether any does."""
    body = session.get("compute", "/servers/detail", {"image": image_id, "all_tenants": 1, "limit": 10})
    records = body.get("servers")
    if not isinstance(records, list):
        raise CloudError(
            f"cloud {session.cloud!r}: Nova: GET /servers/detail: the response has no 'servers' list"
        )
    return [parse_server(r) for r in records if isinstance(r, Mapping)]


def read_volumes(session: Session) -> list[Mapping[str, Any]]:
    return list(session.listing("block_storage", "/volumes/detail", "volumes"))


def read_volume(session: Session, volume_id: str) -> Volume:
    """One volume as it is now (``GET /volumes/{id}``)."""
    body = session.get("block_storage", f"/volumes/{volume_id}")
    raw = body.get("volume")
    if not isinstance(raw, Mapping):
        raise CloudError(
            f"cloud {session.cloud!r}: Cinder: GET /volumes/{volume_id}: the response has no 'volume'"
        )
    return parse_volume(raw)


def read_snapshotted_volumes(session: Session) -> frozenset[str]:
    """The ids of the project's volumes that have a snapshot (``GET /snapshots/detail``): Cinder
    migrates none of them (cinder 21.1.0 ``volume/api.py`` ``migrate_volume``:
    ``~db.volume_has_snapshots_filter()``)."""
    return frozenset(
        str(s.get("volume_id"))
        for s in session.listing("block_storage", "/snapshots/detail", "snapshots")
        if s.get("volume_id")
    )


@dataclass(frozen=True)
class VolumeService:
    """One ``cinder-volume`` service (``GET /os-services?binary=cinder-volume``): one backend,
    ``host@backend``, which the Cinder scheduler places volumes on while it is enabled."""

    host: str
    zone: str
    enabled: bool
    up: bool
    disabled_reason: str


VOLUME_BINARY: Final = "cinder-volume"


def read_volume_services(session: Session) -> tuple[VolumeService, ...]:
    """Every cinder-volume service (admin only by default: ``volume_extension:services:index``,
    cinder 21.1.0 ``cinder/policies/services.py``; ``disabled_reason`` is listed while the
    ``os-extended-services`` extension is loaded, as it is by default, ``api/contrib/services.py``)."""
    body = session.get("block_storage", "/os-services", {"binary": VOLUME_BINARY})
    records = body.get("services")
    if not isinstance(records, list):
        raise CloudError(
            f"cloud {session.cloud!r}: Cinder: GET /os-services: the response has no 'services' list"
        )
    return tuple(
        VolumeService(
            host=str(r.get("host") or ""),
            zone=str(r.get("zone") or ""),
            enabled=r.get("status") == "enabled",
            up=r.get("state") == "up",
            disabled_reason=str(r.get("disabled_reason") or ""),
        )
        for r in records
        if isinstance(r, Mapping)
    )


def read_project(session: Session) -> Observation:
    """The session's project: its servers and volumes, two paginated GETs, nothing else."""
    return observe(read_servers(session), read_volumes(session), project=session.project_id)


def read_compute_services(session: Session) -> tuple[ComputeService, ...]:
    """Every nova-compute service (the os-services API is not paginated; an admin-only list by
    default: ``os_compute_api:os-services:list``, nova/policies/services.py). Read at microversion 2.53,
    which names each service by its UUID, the id ``PUT /os-services/{id}`` takes from 2.53 on (an older
    microversion lists integer ids, which that PUT refuses: "Invalid uuid")."""
    body = session.get("compute", "/os-services", {"binary": "nova-compute"}, COMPUTE_MICROVERSION)
    records = body.get("services")
    if not isinstance(records, list):
        raise CloudError(
            f"cloud {session.cloud!r}: Nova: GET /os-services: the response has no 'services' list"
        )
    return tuple(parse_compute_service(r) for r in records if isinstance(r, Mapping))


def read_server(session: Session, server_id: str) -> Server:
    """One server as it is now (``GET /servers/{id}``)."""
    body = session.get("compute", f"/servers/{server_id}")
    raw = body.get("server")
    if not isinstance(raw, Mapping):
        raise CloudError(
            f"cloud {session.cloud!r}: Nova: GET /servers/{server_id}: the response has no 'server'"
        )
    return parse_server(raw)


@dataclass(frozen=True)
class Migration:
    """One record of ``GET /os-migrations`` (nova 34 ``nova/api/openstack/compute/migrations.py``)."""

    id: int
    status: str
    source: str
    destination: str


LIVE_MIGRATION: Final = "live-migration"
COLD_MIGRATION: Final = "migration"
EVACUATION: Final = "evacuation"
"""The ``migration_type`` of a cold migration's record (nova 34 ``objects/fields.py`` ``MigrationType``)."""


def read_migrations(session: Session, server_id: str, kind: str) -> tuple[Migration, ...]:
    """The server's migration records of one ``kind``, oldest first (by id: below 2.59 Nova does not
    sort them). Admin only by default (``os_compute_api:os-migrations:index``,
    nova/policies/migrations.py). A live migration that Nova refused after its 202 shows here only:
    from microversion 2.34 its pre-checks run in the conductor, which leaves the server ACTIVE on its
    host and sets the record's status to ``error`` (nova 34 ``conductor/manager.py`` ``_live_migrate``);
    one rolled back by the compute host ends ``failed`` (``compute/manager.py``
    ``_rollback_live_migration``)."""
    params = {"instance_uuid": server_id, "migration_type": kind}
    body = session.get("compute", "/os-migrations", params, COMPUTE_MICROVERSION)
    records = body.get("migrations")
    if not isinstance(records, list):
        raise CloudError(
            f"cloud {session.cloud!r}: Nova: GET /os-migrations: the response has no 'migrations' list"
        )
    found = [
        Migration(
            id=int(r.get("id") or 0),
            status=str(r.get("status") or ""),
            source=str(r.get("source_compute") or ""),
            destination=str(r.get("dest_compute") or ""),
        )
        for r in records
        if isinstance(r, Mapping)
    ]
    return tuple(sorted(found, key=lambda m: m.id))


MOVE_ACTIONS: Final = frozenset({"live-migration", "evacuate", "migrate", "resize"})
"""The instance actions that move a server to another host (nova 34 ``nova/compute/instance_actions.py``)."""
ACTIONS_RULE: Final = "os_compute_api:os-instance-actions:list"
ACTIONS_RULE_DEFAULT: Final = "rule:project_reader_or_admin, nova 34 nova/policies/instance_actions.py"


@dataclass(frozen=True)
class InstanceAction:
    """One entry of ``GET /servers/{id}/os-instance-actions`` (nova 34
    ``nova/api/openstack/compute/instance_actions.py`` ``ACTION_KEYS``). It names who asked and when, not
    the destination nor whether a host was forced: no API records ``force`` (``os-migrations`` neither,
    ``nova/api/openstack/compute/migrations.py``), so a forced move is told by where it left the server."""

    action: str
    request_id: str
    user_id: str
    start_time: str
    message: str


def read_instance_actions(session: Session, server_id: str) -> tuple[InstanceAction, ...]:
    """A server's actions, newest first (a project reader may list them by default). Read at the
    project's microversion (2.53): below 2.58 Nova answers the whole list in one response, with
    ``ACTION_KEYS`` (2.58 adds ``updated_at`` and pages it by ``limit``/``marker``), and from 2.21 the
    actions of a deleted server too (nova 34 ``nova/api/openstack/compute/instance_actions.py`` ``index``)."""
    body = session.get("compute", f"/servers/{server_id}/os-instance-actions", headers=COMPUTE_MICROVERSION)
    records = body.get("instanceActions")
    if not isinstance(records, list):
        raise CloudError(
            f"cloud {session.cloud!r}: Nova: GET /servers/{server_id}/os-instance-actions: "
            "the response has no 'instanceActions' list"
        )
    actions = [
        InstanceAction(
            action=str(r.get("action") or ""),
            request_id=str(r.get("request_id") or ""),
            user_id=str(r.get("user_id") or ""),
            start_time=str(r.get("start_time") or ""),
            message=str(r.get("message") or ""),
        )
        for r in records
        if isinstance(r, Mapping)
    ]
    return tuple(sorted(actions, key=lambda a: a.start_time, reverse=True))


CONSOLE_RULE: Final = "os_compute_api:os-console-output"
CONSOLE_RULE_DEFAULT: Final = "rule:project_member_or_admin, nova 34 nova/policies/console_output.py"


def read_console_output(session: Session, server_id: str) -> str:
    """The server's console log as Nova keeps it (``os-getConsoleOutput``, nova 34
    ``nova/api/openstack/compute/console_output.py``). ``length`` null asks for all of it: a number N
    gives the last N lines, and -1 — "unlimited" in the request schema — drops the first line instead
    (``nova/compute/manager.py`` ``_tail_log`` keeps ``lines[-length:]``). "All" is what the hypervisor
    kept: the libvirt driver reads the last 100 KiB of the log and its rotations (``MAX_CONSOLE_BYTES``,
    ``nova/virt/libvirt/driver.py`` ``_get_console_output_file``). Nova answers 404 when the server has
    no console, 409 when it is not running and 501 when its driver keeps no log; it allows the call to
    project members by default, not to readers (:data:`CONSOLE_RULE`, :data:`CONSOLE_RULE_DEFAULT`)."""
    try:
        body = session.read_action(server_id, {"os-getConsoleOutput": {"length": None}})
    except CloudError as error:
        fixes = {
            403: (
                f"Nova's policy refuses this identity the rule {CONSOLE_RULE} (default "
                f"{CONSOLE_RULE_DEFAULT}): grant it to the reader's read-only role, "
                f'"{CONSOLE_RULE}": "rule:project_member_or_admin or role:webex-observer" '
                "(docs/identities.md)"
            ),
            404: "the server has no console log (or is gone): check it in `openstack console log show`",
            409: "the server is not running: start it, or wait until it is ACTIVE",
            501: "this cloud's compute driver keeps no console log for it",
        }
        fix = fixes.get(error.status or 0)
        if fix is None:
            raise
        raise CloudError(f"{error}; {fix}", error.status) from None
    output = body.get("output")
    if not isinstance(output, str):
        raise CloudError(
            f"cloud {session.cloud!r}: Nova: POST /servers/{server_id}/action os-getConsoleOutput: the "
            "response has no 'output' text"
        )
    return output
