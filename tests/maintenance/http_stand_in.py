"""The fake Nova (and its Cinder side) served over HTTP on 127.0.0.1, behind the Keystone of
tests/cloud/fake_cloud.py: the command's own session — openstacksdk and keystoneauth, unchanged — logs in,
finds Nova and Cinder in the token's catalog and sends its requests over a socket, so what is tested is
every byte the command sends (paths, bodies, microversion headers) and every reply it parses."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.cloud.fake_cloud import FakeCloud, JsonHandler, serve
from tests.maintenance.fake_nova import FakeNova
from webex_cloud.cloud.errors import CloudError

COMPUTE = "/compute/v2.1"
VOLUME = "/volume/v3/p1"
LISTINGS = {"/servers/detail": "servers", "/volumes/detail": "volumes", "/snapshots/detail": "snapshots"}


class StandIn(FakeCloud):
    """Keystone's token with Cinder in its catalog too."""

    def token(self) -> dict[str, Any]:
        token = super().token()
        endpoint = {"id": "e3", "interface": "public", "region": "RegionOne", "region_id": "RegionOne"}
        for kind in ("block-storage", "volumev3"):
            token["token"]["catalog"].append(
                {
                    "type": kind,
                    "name": "cinder",
                    "id": f"c-{kind}",
                    "endpoints": [endpoint | {"url": self.url + VOLUME}],
                }
            )
        return token


def _handler(cloud: StandIn, fake: FakeNova) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        def route(self) -> tuple[str, str] | None:
            path = urlsplit(self.path).path.rstrip("/")
            for prefix, service in ((COMPUTE, "compute"), (VOLUME, "block_storage")):
                if path.startswith(prefix + "/"):
                    return service, path.removeprefix(prefix)
            return None

        def versions(self) -> bool:
            """Keystone's and the services' version documents, for discovery."""
            documents = {
                "/v3": {"version": {"id": "v3.14", "status": "stable", "links": [self.link("/v3/")]}},
                "/compute": {"versions": [self.version("v2.1", "2.95", "2.1", COMPUTE)]},
                COMPUTE: {"version": self.version("v2.1", "2.95", "2.1", COMPUTE)},
                "/volume": {"versions": [self.version("v3.0", "3.70", "3.0", "/volume/v3")]},
                "/volume/v3": {"versions": [self.version("v3.0", "3.70", "3.0", "/volume/v3")]},
                VOLUME: {"versions": [self.version("v3.0", "3.70", "3.0", "/volume/v3")]},
            }
            found = documents.get(urlsplit(self.path).path.rstrip("/"))
            if found is not None:
                self.reply(200, found)
            return found is not None

        def link(self, path: str) -> dict[str, str]:
            return {"rel": "self", "href": f"{cloud.url}{path}"}

        def version(self, ident: str, top: str, bottom: str, path: str) -> dict[str, Any]:
            return {
                "id": ident,
                "status": "CURRENT",
                "version": top,
                "min_version": bottom,
                "links": [self.link(path + "/")],
            }

        def headers_sent(self) -> dict[str, str]:
            sent = self.headers.get("OpenStack-API-Version")
            return {"OpenStack-API-Version": sent} if sent else {}

        def do_GET(self) -> None:
            cloud.requests.append(("GET", self.path))
            if self.versions():
                return
            routed = self.route()
            if routed is None:
                self.reply(404, {"itemNotFound": {"code": 404, "message": self.path}})
                return
            service, path = routed
            if path in LISTINGS:
                key = LISTINGS[path]
                self.reply(200, {key: list(fake.listing(service, path, key))})
                return
            params = dict(parse_qsl(urlsplit(self.path).query))
            with lock:
                self.reply(200, fake.get(service, path, params, self.headers_sent()))

        def write(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"null")
            cloud.requests.append((method, self.path))
            if method == "POST" and self.path == "/v3/auth/tokens":
                self.reply(201, cloud.token(), {"X-Subject-Token": "fake-token"})
                return
            routed = self.route()
            if routed is None:
                self.reply(404, {"itemNotFound": {"code": 404, "message": self.path}})
                return
            try:
                with lock:
                    fake.send(routed[0], method, routed[1], body, self.headers_sent())
            except CloudError as error:
                self.reply(400, {"badRequest": {"code": 400, "message": str(error)}})
                return
            self.reply(202)

        def do_POST(self) -> None:
            self.write("POST")

        def do_PUT(self) -> None:
            self.write("PUT")

    lock = threading.Lock()
    return Handler


@contextmanager
def served(fake: FakeNova, roles: list[str]) -> Iterator[StandIn]:
    """``fake`` behind Keystone on 127.0.0.1, until the block ends."""
    cloud = StandIn(roles)
    with serve(_handler(cloud, fake)) as port:
        cloud.port = port
        yield cloud
