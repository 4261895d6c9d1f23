"""Fake API records for the audit tests: Nova's and Cinder's detail listings, placement chosen by the test."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from webex_cloud.audit.expected import Expected, ExpectedPod
from webex_cloud.cloud import views as observed
from webex_cloud.tags import ownership_metadata

STACK = "dc1"
PROJECT = "5f1c0ffee0000000000000000000abcd"


def host_id(host: str, project: str = PROJECT) -> str:
    """Nova's hostId: nova 34 nova/utils.py generate_hostid, sha224(project_id + host)."""
    return hashlib.sha224((project + host).encode()).hexdigest()


@dataclass
class FakeCloud:
    """Servers and volumes as the APIs list them; placement chosen by the test."""

    servers: list[dict[str, Any]] = field(default_factory=list)
    volumes: list[dict[str, Any]] = field(default_factory=list)

    def server(self, name: str, host: str | None, metadata: Mapping[str, str] | None = None) -> str:
        ident = str(uuid.uuid5(uuid.NAMESPACE_DNS, f"server/{name}/{len(self.servers)}"))
        self.servers.append(
            {
                "id": ident,
                "name": name,
                "status": "ACTIVE" if host else "ERROR",
                "metadata": dict(metadata or {}),
                "hostId": host_id(host) if host else "",
                observed.HOST_FIELD: host,
                "tenant_id": PROJECT,
            }
        )
        return ident

    def volume(self, name: str, backend: str | None, metadata: Mapping[str, str] | None = None) -> str:
        ident = str(uuid.uuid5(uuid.NAMESPACE_DNS, f"volume/{name}/{len(self.volumes)}"))
        self.volumes.append(
            {
                "id": ident,
                "name": name,
                "status": "available" if backend else "error",
                "metadata": dict(metadata or {}),
                observed.BACKEND_FIELD: f"{backend}#{backend.partition('@')[2]}" if backend else None,
            }
        )
        return ident

    def ids(self, name: str) -> list[str]:
        return [r["id"] for r in [*self.servers, *self.volumes] if r["name"] == name]

    def observation(self, admin: bool = True) -> observed.Observation:
        servers = [
            r if admin else {k: v for k, v in r.items() if k != observed.HOST_FIELD} for r in self.servers
        ]
        volumes = [
            r if admin else {k: v for k, v in r.items() if k != observed.BACKEND_FIELD} for r in self.volumes
        ]
        return observed.observe(servers, volumes, project=PROJECT)


def deployed(expected: Expected) -> FakeCloud:
    """The plan deployed as it should be: each service's pod N on host N, replica N in domain N."""
    cloud = FakeCloud()
    for service in sorted({p.service for p in expected.pods}):
        for index, pod in enumerate(p for p in expected.pods if p.service == service):
            for name in pod.instances:
                cloud.server(name, expected.hosts[index], ownership_metadata(service, "team", STACK))
    domains = list(expected.failure_domains.values())
    for group in expected.groups:
        for index, name in enumerate(group.replicas):
            cloud.volume(name, domains[index][0], ownership_metadata(group.service, "team", STACK))
    return cloud


def first_pods(expected: Expected, service: str) -> list[ExpectedPod]:
    return [p for p in expected.pods if p.service == service]
