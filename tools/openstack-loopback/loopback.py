"""API-side steps of the loopback cloud: the Keystone catalog and the readiness checks.

Run by up.sh and scheduler.sh with Debian's /usr/bin/python3 and its openstacksdk (Zed, 0.101), so it
works before the project's virtualenv exists. It authenticates as cloud ``loopback`` from the
clouds.yaml that up.sh wrote (OS_CLIENT_CONFIG_FILE).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import openstack

REGION = "RegionOne"
SERVICE_PASSWORD = "os"
# (user, service name, service type, endpoint URL); every endpoint is on loopback.
CATALOG = [
    ("placement", "placement", "placement", "http://127.0.0.1:8778"),
    ("nova", "nova", "compute", "http://127.0.0.1:8774/v2.1"),
    ("cinder", "cinderv3", "volumev3", "http://127.0.0.1:8776/v3/%(project_id)s"),
    ("neutron", "neutron", "network", "http://127.0.0.1:9696"),
    ("glance", "glance", "image", "http://127.0.0.1:9292"),
]


def connect() -> Any:
    return openstack.connect(cloud="loopback")


def keystone(_: argparse.Namespace) -> None:
    """Service project, service users and the catalog; safe to run again."""
    conn = connect()
    ident = conn.identity
    project = ident.find_project("service") or ident.create_project(name="service", domain_id="default")
    admin = ident.find_role("admin")
    # The role Cinder requires of a service token (keystonemiddleware's service_token_roles default):
    # only a request carrying one may delete an attachment Nova uses (Cinder 21 volume/api.py
    # is_service_request, the fix of CVE-2023-2088 in Debian's cinder 2:21.3.1-1~deb12u1).
    service_role = ident.find_role("service") or ident.create_role(name="service")
    for user_name, service_name, service_type, url in CATALOG:
        user = ident.find_user(user_name) or ident.create_user(
            name=user_name, password=SERVICE_PASSWORD, domain_id="default"
        )
        ident.assign_project_role_to_user(project, user, admin)
        ident.assign_project_role_to_user(project, user, service_role)
        service = ident.find_service(service_name) or ident.create_service(
            name=service_name, type=service_type
        )
        present = {e.interface for e in ident.endpoints(service_id=service.id)}
        for interface in ("public", "internal"):
            if interface not in present:
                ident.create_endpoint(service_id=service.id, interface=interface, url=url, region_id=REGION)


def _parse_time(value: str) -> float:
    return datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp()


def _services(conn: Any, api: str) -> list[dict[str, Any]]:
    if api == "nova":  # forced_down is listed from 2.11 on
        response = conn.compute.get("/os-services", microversion="2.11")
    else:
        response = conn.block_storage.get("/os-services")
    services: list[dict[str, Any]] = response.json()["services"]
    return services


def _up_since(
    services: list[dict[str, Any]], binary: str, host: str, since: float = 0, forced_down_ok: bool = False
) -> bool:
    """Reported up, and reported by a process started at or after ``since``. With ``forced_down_ok``, a
    service an admin forced down (state ``down`` whatever it reports) counts once it reported.

    The API calls a service up while its last report is recent, so right after a restart the previous
    process's last report still reads "up"; only a report newer than the start proves the new one.
    Both sides are whole seconds (``date +%s``; Nova and Cinder store ``updated_at`` without fractions),
    so a report in the start's own second may be the old process's last one: it proves nothing.
    """
    for svc in services:
        if svc["binary"] == binary and svc["host"] == host:
            updated = svc.get("updated_at")
            up = svc["state"] == "up" or (forced_down_ok and svc.get("forced_down") is True)
            return up and isinstance(updated, str) and _parse_time(updated) > since
    return False


def service_up(args: argparse.Namespace) -> None:
    api = "nova" if args.binary.startswith("nova-") else "cinder"
    if not _up_since(_services(connect(), api), args.binary, args.host, args.since, args.forced_down_ok):
        sys.exit(1)


def _pools(conn: Any) -> dict[str, dict[str, Any]]:
    pools = conn.block_storage.get("/scheduler-stats/get_pools?detail=True").json()["pools"]
    return {p["name"]: p.get("capabilities", {}) for p in pools}


def _poll(timeout: float, checks: Callable[[], list[str]]) -> None:
    """Run ``checks`` (which returns what is still missing) until nothing is missing or time is up."""
    deadline = time.monotonic() + timeout
    missing = ["not checked yet"]
    while True:
        try:
            missing = checks()
        except Exception as exc:  # an API not answering yet is one more thing to wait for
            missing = [f"{type(exc).__name__}: {exc}"]
        if not missing:
            return
        if time.monotonic() > deadline:
            print(f"still not ready after {timeout:.0f}s:", *missing, sep="\n  ", file=sys.stderr)
            sys.exit(1)
        time.sleep(1)


def wait_computes(args: argparse.Namespace) -> None:
    conn = connect()

    def checks() -> list[str]:
        services = _services(conn, "nova")
        return [
            f"nova-compute on {h} not up" for h in args.computes if not _up_since(services, "nova-compute", h)
        ]

    _poll(args.timeout, checks)


def ready(args: argparse.Namespace) -> None:
    """Wait until every API answers, every service is up (the services listed in --since with a report
    newer than their start), placement knows every host and the Cinder scheduler every backend with its
    own name and failure domain."""
    conn = connect()
    backends = dict(b.split("=", 1) for b in args.backends)
    since = {k: float(v) for k, v in (s.split("=", 1) for s in args.since)}

    def up(services: list[dict[str, Any]], expected: list[tuple[str, str]]) -> list[str]:
        stale = [(b, h) for b, h in expected if not _up_since(services, b, h, since.get(f"{b}@{h}", 0))]
        return [f"{b} on {h} not up" for b, h in stale]

    def checks() -> list[str]:
        missing = up(
            _services(conn, "nova"),
            [("nova-compute", h) for h in args.computes]
            + [("nova-conductor", args.conductor)]
            + [("nova-scheduler", c) for c in args.controllers],
        )
        providers = conn.placement.get("/resource_providers").json()["resource_providers"]
        providers = {rp["name"] for rp in providers}
        missing += [f"no placement resource provider for {h}" for h in args.computes if h not in providers]
        missing += up(
            _services(conn, "cinder"),
            [("cinder-volume", b) for b in backends] + [("cinder-scheduler", c) for c in args.controllers],
        )
        pools = _pools(conn)
        for backend, domain in backends.items():
            name = backend.split("@", 1)[1]
            caps = pools.get(f"{backend}#{name}")
            if caps is None:
                missing.append(f"scheduler has no pool {backend}#{name}")
            elif caps.get("volume_backend_name") != name or caps.get("failure_domain") != domain:
                missing.append(
                    f"pool {backend}#{name} reports {caps.get('volume_backend_name')!r}/"
                    f"{caps.get('failure_domain')!r}, expected {name!r}/{domain!r}"
                )
        list(conn.image.images(limit=1))
        list(conn.network.networks(limit=1))
        return missing

    _poll(args.timeout, checks)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(required=True)
    sub.add_parser("keystone", help="service users, services and endpoints").set_defaults(func=keystone)
    p = sub.add_parser("service-up", help="exit 0 if the service reported up since a start time")
    p.add_argument("--binary", required=True)
    p.add_argument("--host", required=True)
    p.add_argument("--since", type=float, required=True, help="epoch seconds of the process start")
    p.add_argument("--forced-down-ok", action="store_true", help="a forced-down service that reported counts")
    p.set_defaults(func=service_up)
    p = sub.add_parser("wait-computes", help="wait until these nova-compute services are up")
    p.add_argument("--timeout", type=float, default=180)
    p.add_argument("--computes", nargs="+", required=True)
    p.set_defaults(func=wait_computes)
    p = sub.add_parser("ready", help="wait until everything is up")
    p.add_argument("--timeout", type=float, default=180)
    p.add_argument("--computes", nargs="+", required=True)
    p.add_argument("--controllers", nargs="+", required=True)
    p.add_argument("--conductor", required=True, help="the host of nova-conductor")
    p.add_argument("--backends", nargs="+", required=True, help="host@backend=failure-domain")
    p.add_argument("--since", nargs="*", default=[], help="binary@host=epoch: must have reported since then")
    p.set_defaults(func=ready)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main(sys.argv[1:])
