"""The writes of maintenance, one function per Nova or Cinder call (operator sessions only: Session.send
refuses them on a read-only session).

Microversion 2.53 for both (nova/api/openstack/api_version_request.py of nova 34 lists it): from 2.53 on a
compute service is addressed by its UUID (``PUT /os-services/{service_id}``, the body carries ``status``
and ``disabled_reason``), and since 2.25 ``os-migrateLive`` takes ``block_migration: "auto"`` and a
``host`` of null, which leaves the destination to the scheduler and its filters — never a forced host.
"""

from __future__ import annotations

from webex_cloud.cloud.session import Session
from webex_cloud.cloud.views import COMPUTE_MICROVERSION, VOLUME_BINARY


def disable_compute_service(session: Session, service_id: str, reason: str) -> None:
    """Cordon: the scheduler stops choosing the host (ComputeFilter); what runs there keeps running."""
    body = {"status": "disabled", "disabled_reason": reason}
    session.send("compute", "PUT", f"/os-services/{service_id}", body, COMPUTE_MICROVERSION)


def enable_compute_service(session: Session, service_id: str) -> None:
    session.send("compute", "PUT", f"/os-services/{service_id}", {"status": "enabled"}, COMPUTE_MICROVERSION)


def live_migrate(session: Session, server_id: str) -> None:
    """Ask Nova to live-migrate a server to a host its scheduler chooses (202: it runs on its own)."""
    body = {"os-migrateLive": {"host": None, "block_migration": "auto"}}
    session.send("compute", "POST", f"/servers/{server_id}/action", body, COMPUTE_MICROVERSION)


def cold_migrate(session: Session, server_id: str) -> None:
    """Ask Nova to cold-migrate a server (202): it stops, moves to a host its scheduler chooses (the body
    names no host; one may be named from 2.56 only, nova 34 ``migrate_server.py`` ``_migrate``) and waits
    in VERIFY_RESIZE for :func:`confirm_resize`. The instance is down while it moves."""
    session.send("compute", "POST", f"/servers/{server_id}/action", {"migrate": None}, COMPUTE_MICROVERSION)


def confirm_resize(session: Session, server_id: str) -> None:
    """Confirm a cold migration in VERIFY_RESIZE: the source host's copy is deleted (nova 34
    ``servers.py`` ``_confirm_resize``)."""
    session.send(
        "compute", "POST", f"/servers/{server_id}/action", {"confirmResize": None}, COMPUTE_MICROVERSION
    )


def evacuate(session: Session, server_id: str) -> None:
    """Ask Nova to rebuild a server of a dead host elsewhere (202), on a host its scheduler chooses: the
    body names no host (nova 34 ``schemas/evacuate.py``: from 2.14 every field is optional). Nova refuses
    it while the server's compute service is up (``compute/api.py`` ``API.evacuate``:
    ``ComputeServiceInUse``) and records an ``evacuation`` migration, ``accepted`` until the conductor
    picked a destination."""
    session.send("compute", "POST", f"/servers/{server_id}/action", {"evacuate": {}}, COMPUTE_MICROVERSION)


def migrate_volume(session: Session, volume_id: str, backend: str) -> None:
    """Ask Cinder to move a volume to ``backend`` (``host@backend``; 202, it runs on its own).

    cinder 21.1.0 (Zed): ``os-migrate_volume`` (``api/contrib/admin_actions.py``, policy
    ``volume_extension:volume_admin_actions:migrate_volume``, default ``rule:admin_api``) needs the
    destination named: below microversion 3.16 ``host`` is required, from 3.16 exactly one of ``host``
    and ``cluster`` (``api/common.py`` ``get_cluster_host``), so the scheduler never chooses here; it
    checks the named backend against its filters (``scheduler/filter_scheduler.py``
    ``backend_passes_filters``, a host without ``#pool`` compared as ``host@backend``), ours among them,
    and when they refuse it the migration ends ``error`` with the volume untouched. The API refuses at
    once (400) a volume that is not available or in-use, is migrating, has snapshots, is replicated or in
    a group, or is already on ``backend`` (``volume/api.py`` ``migrate_volume``); otherwise it sets
    ``migration_status`` to ``starting`` before it answers. ``force_host_copy`` false lets the driver
    move it itself when it can; ``lock_volume`` false leaves an available volume attachable."""
    body = {"os-migrate_volume": {"host": backend, "force_host_copy": False, "lock_volume": False}}
    session.send("block_storage", "POST", f"/volumes/{volume_id}/action", body)


def disable_volume_service(session: Session, backend: str, reason: str) -> None:
    """Cordon a backend: the Cinder scheduler stops placing new volumes on it; what is there stays
    (``PUT /os-services/disable-log-reason``, cinder 21.1.0 ``api/contrib/services.py`` ``update``;
    policy ``volume_extension:services:update``, admin)."""
    body = {"host": backend, "binary": VOLUME_BINARY, "disabled_reason": reason}
    session.send("block_storage", "PUT", "/os-services/disable-log-reason", body)


def enable_volume_service(session: Session, backend: str) -> None:
    body = {"host": backend, "binary": VOLUME_BINARY}
    session.send("block_storage", "PUT", "/os-services/enable", body)
