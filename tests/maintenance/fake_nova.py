"""A Nova as maintenance sees it through a Session: servers, compute services, and live migrations that
take two polls (MIGRATING, then ACTIVE on the host a test-chosen scheduler picks). A server in
``refuse_live`` has its live migrations refused as Nova 34 does at microversion 2.34+: a 202, then a
migration record in status ``error`` and the server ACTIVE where it was (conductor/manager.py
``_live_migrate``). A cold migration takes two polls too (RESIZE, then VERIFY_RESIZE on its new host)
and ends ACTIVE at ``confirmResize``. An evacuation (only off a host in ``down``, else Nova's 409
``ComputeServiceInUse``) makes an ``evacuation`` record (``accepted``) and takes three polls: REBUILD with
task state ``rebuilding``; then, as Nova's compute saves the rebuilt server before it records the new
host, ACTIVE and idle still on the dead host; then ACTIVE on the host the scheduler picks, the record
``done``. When the scheduler picks none (``choose`` returns "") the second poll is ERROR, the record
``error``.

Its Cinder side: the project's volumes, their cinder-volume services (one per backend of ``backends``)
and ``os-migrate_volume`` as cinder 21.1.0 runs it: the API's own refusals at once (a 400: not
available/in-use, migrating, with snapshots, already on that backend), else ``migration_status``
``starting`` before the 202; then, one step per read of the volume, ``migrating`` (with the temporary
destination volume in the listing, same name, ``target:<id>``), and ``success`` on the destination — or
``error`` where it was when the destination is in ``refuse_backends`` (the scheduler's filters)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.audit.fakes import FakeCloud
from webex_cloud.cloud import views
from webex_cloud.cloud.errors import CloudError


@dataclass
class FakeNova:
    cloud: FakeCloud
    hosts: list[str]
    choose: Callable[[dict[str, Any]], str]
    """The scheduler: a server record -> its destination host."""
    disabled: dict[str, str] = field(default_factory=dict)
    sent: list[tuple[str, str, Any]] = field(default_factory=list)
    migrating: dict[str, str] = field(default_factory=dict)
    """server id -> destination, while Nova migrates it."""
    refuse_live: set[str] = field(default_factory=set)
    """Names of servers whose live migrations Nova refuses."""
    migrations: list[dict[str, Any]] = field(default_factory=list)
    cold: set[str] = field(default_factory=set)
    """Ids of the servers in a cold migration."""
    down: set[str] = field(default_factory=set)
    """Hosts whose compute service is down (state ``down``): the only ones Nova evacuates from."""
    evacuating: set[str] = field(default_factory=set)
    """Ids of the servers being evacuated."""
    rebuilt: set[str] = field(default_factory=set)
    """Ids of the evacuated servers rebuilt (ACTIVE) whose new host is not recorded yet."""
    cloud_name: str = "fake"
    project_id: str = "p"
    backends: list[str] = field(default_factory=list)
    """Cinder backends (``host@backend``), each with a cinder-volume service."""
    backends_disabled: dict[str, str] = field(default_factory=dict)
    snapshots: list[dict[str, Any]] = field(default_factory=list)
    volume_moves: dict[str, str] = field(default_factory=dict)
    """volume id -> destination backend, while Cinder migrates it."""
    refuse_backends: set[str] = field(default_factory=set)
    """Destinations the Cinder scheduler's filters refuse: the migration ends ``error``."""

    def volume(self, volume_id: str) -> dict[str, Any]:
        return next(v for v in self.cloud.volumes if v["id"] == volume_id)

    def _cinder_get(self, url: str) -> Any:
        if url == "/os-services":
            return {
                "services": [
                    {
                        "binary": views.VOLUME_BINARY,
                        "host": backend,
                        "zone": "nova",
                        "status": "disabled" if backend in self.backends_disabled else "enabled",
                        "state": "up",
                        "disabled_reason": self.backends_disabled.get(backend),
                    }
                    for backend in self.backends
                ]
            }
        record = self.volume(url.rsplit("/", 1)[-1])
        destination = self.volume_moves.get(record["id"])
        if destination is not None:
            target_name = f"target:{record['id']}"
            if record[views.MIGRATION_FIELD] == "starting":
                record[views.MIGRATION_FIELD] = "migrating"
                self.cloud.volumes.append(
                    {**record, "id": f"{record['id']}-target", views.MIGRATION_FIELD: target_name}
                )
            else:
                del self.volume_moves[record["id"]]
                self.cloud.volumes[:] = [
                    v for v in self.cloud.volumes if v.get(views.MIGRATION_FIELD) != target_name
                ]
                if destination in self.refuse_backends:
                    record[views.MIGRATION_FIELD] = "error"
                else:
                    record[views.MIGRATION_FIELD] = "success"
                    record[views.BACKEND_FIELD] = f"{destination}#{destination.partition('@')[2]}"
        return {"volume": dict(record)}

    def _cinder_send(self, method: str, url: str, body: Any) -> None:
        if url == "/os-services/disable-log-reason":
            self.backends_disabled[body["host"]] = body["disabled_reason"]
            return
        if url == "/os-services/enable":
            self.backends_disabled.pop(body["host"], None)
            return
        record = self.volume(url.split("/")[2])
        host = body["os-migrate_volume"]["host"]
        snapshotted = any(s["volume_id"] == record["id"] for s in self.snapshots)
        if (
            record["status"] not in ("available", "in-use")
            or record.get(views.MIGRATION_FIELD) in ("starting", "migrating", "completing")
            or snapshotted
            or str(record[views.BACKEND_FIELD]).partition("#")[0] == host
            or host not in self.backends
        ):
            raise CloudError(f"Cinder: POST {url} failed: BadRequestException: 400: Invalid volume")
        record[views.MIGRATION_FIELD] = "starting"
        self.volume_moves[record["id"]] = host

    def record(self, server_id: str) -> dict[str, Any]:
        return next(s for s in self.cloud.servers if s["id"] == server_id)

    def get(
        self, service: str, url: str, params: Mapping[str, Any] | None = None, headers: Any = None
    ) -> Any:
        if service == "block_storage":
            return self._cinder_get(url)
        if url == "/os-services":
            # Before microversion 2.53 Nova lists integer ids, which PUT /os-services/{id} refuses after.
            uuids = (headers or {}).get("OpenStack-API-Version") == "compute 2.53"
            return {
                "services": [
                    {
                        "id": f"svc-{host}" if uuids else str(index),
                        "host": host,
                        "zone": "nova",
                        "status": "disabled" if host in self.disabled else "enabled",
                        "state": "down" if host in self.down else "up",
                        "disabled_reason": self.disabled.get(host),
                    }
                    for index, host in enumerate(self.hosts)
                ]
            }
        if url == "/os-migrations":
            wanted = dict(params or {})
            if wanted["instance_uuid"] in self.evacuating:
                self._evacuate_step(wanted["instance_uuid"], self.record(wanted["instance_uuid"]))
            return {
                "migrations": [
                    m
                    for m in self.migrations
                    if m["instance_uuid"] == wanted["instance_uuid"]
                    and m["migration_type"] == wanted["migration_type"]
                ]
            }
        server_id = url.rsplit("/", 1)[-1]
        record = self.record(server_id)
        if server_id in self.cold and server_id in self.migrating:
            if record["status"] == "RESIZE":
                record.update({"status": "VERIFY_RESIZE", views.HOST_FIELD: self.migrating.pop(server_id)})
                record.pop("OS-EXT-STS:task_state", None)
            else:
                record.update({"status": "RESIZE", "OS-EXT-STS:task_state": "resize_migrating"})
        elif server_id in self.evacuating:
            self._evacuate_step(server_id, record)
        elif server_id in self.migrating:
            if record["status"] == "MIGRATING":
                record.update({"status": "ACTIVE", views.HOST_FIELD: self.migrating.pop(server_id)})
                record.pop("OS-EXT-STS:task_state", None)
            else:
                record.update({"status": "MIGRATING", "OS-EXT-STS:task_state": "migrating"})
        return {"server": dict(record)}

    def _evacuate_step(self, server_id: str, record: dict[str, Any]) -> None:
        evacuation = [
            m
            for m in self.migrations
            if m["instance_uuid"] == server_id and m["migration_type"] == "evacuation"
        ]
        if server_id in self.rebuilt:
            self.rebuilt.discard(server_id)
            record[views.HOST_FIELD] = self.migrating[server_id]
            status = "done"
        elif record["status"] == "REBUILD":
            record.pop("OS-EXT-STS:task_state", None)
            if self.migrating[server_id]:
                record["status"] = "ACTIVE"
                self.rebuilt.add(server_id)
                return
            record["status"] = "ERROR"
            status = "error"
        else:
            record.update({"status": "REBUILD", "OS-EXT-STS:task_state": "rebuilding"})
            return
        del self.migrating[server_id]
        self.evacuating.discard(server_id)
        for migration in evacuation[-1:]:
            migration.update({"status": status, "dest_compute": record[views.HOST_FIELD] or None})

    def listing(self, service: str, path: str, key: str) -> Iterator[Mapping[str, Any]]:
        found = {"servers": self.cloud.servers, "volumes": self.cloud.volumes, "snapshots": self.snapshots}
        return iter([dict(record) for record in found[key]])

    def send(self, service: str, method: str, url: str, body: Any = None, headers: Any = None) -> None:
        self.sent.append((method, url, body))
        if service == "block_storage":
            self._cinder_send(method, url, body)
        elif url.startswith("/os-services/"):
            if not url.startswith("/os-services/svc-") or headers != views.COMPUTE_MICROVERSION:
                raise CloudError(f"Nova: PUT {url} failed: BadRequestException: 400: Invalid uuid")
            host = url.removeprefix("/os-services/svc-")
            if body["status"] == "disabled":
                self.disabled[host] = body["disabled_reason"]
            else:
                self.disabled.pop(host, None)
        elif url.endswith("/action"):
            server_id = url.split("/")[2]
            record = self.record(server_id)
            if "confirmResize" in body:
                assert record["status"] == "VERIFY_RESIZE", "confirmResize outside VERIFY_RESIZE: Nova's 409"
                record["status"] = "ACTIVE"
                self.cold.discard(server_id)
                return
            if "evacuate" in body:
                if record[views.HOST_FIELD] not in self.down:
                    raise CloudError(
                        f"Nova: POST {url} failed: ConflictException: 409: Compute service of "
                        f"{record[views.HOST_FIELD]} is still in use."
                    )
                self.evacuating.add(server_id)
                self.migrating[server_id] = self.choose(record)
                self.migrations.append(
                    {
                        "id": len(self.migrations) + 1,
                        "instance_uuid": server_id,
                        "migration_type": "evacuation",
                        "status": "accepted",
                        "source_compute": record[views.HOST_FIELD],
                        "dest_compute": None,
                    }
                )
                return
            kind = "migration" if "migrate" in body else "live-migration"
            refused = kind == "live-migration" and record["name"] in self.refuse_live
            self.migrations.append(
                {
                    "id": len(self.migrations) + 1,
                    "instance_uuid": server_id,
                    "migration_type": kind,
                    "status": "error" if refused else "completed",
                    "source_compute": record[views.HOST_FIELD],
                    "dest_compute": None,
                }
            )
            if refused:
                return
            if kind == "migration":
                self.cold.add(server_id)
            self.migrating[server_id] = self.choose(record)
