"""A Keystone v3 and a Nova, Cinder (``/volume/v3/<project>``), Neutron (``/network``) and Glance
(``/image/v2``) on 127.0.0.1 that answer just enough for openstacksdk to authenticate, GET and write.

The session under test is openstacksdk's and keystoneauth's own code, unchanged: only the far side of
the socket is scripted. Each GET or POST of a path answers from ``script[path]`` in turn (a status and a
JSON body), so a test can make Nova fail before it answers; ``answers[path]`` answers every request of a
path that the script does not (a long replay's steady cloud). The bodies POSTed are kept in ``posted``.
A DELETE answers from ``script["DELETE <path>"]``, else 204 as Glance does. Glance is at ``/image``
(unversioned in the catalog, as devstack registers it: openstacksdk discovers ``/image/v2/``).
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class FakeCloud:
    roles: list[str]
    script: dict[str, list[tuple[int, Any]]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    answers: dict[str, tuple[int, Any]] = field(default_factory=dict)
    posted: list[tuple[str, Any]] = field(default_factory=list)
    port: int = 0
    project_id: str = "p1"
    images: list[dict[str, Any]] | None = None
    """Glance's images, when given: ``GET /image/v2/images?name=N`` lists those named N, as Glance
    filters (one page), unless ``answers`` or ``script`` answer that path."""

    def answer(self, path: str) -> tuple[int, Any]:
        if self.script.get(path):
            return self.script[path].pop(0)
        missing = {"itemNotFound": {"code": 404, "message": f"{path} not scripted"}}
        return self.answers.get(path) or (404, missing)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def clouds_yaml(self, folder: Path, *names: str) -> Path:
        """A clouds.yaml whose entries (default: one, ``fake``) all log in here."""
        auth = {
            "auth_url": f"{self.url}/v3",
            "username": "u",
            "password": "fake-password",
            "project_name": "p",
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        }
        path = folder / "clouds.yaml"
        entry = {"auth": auth, "region_name": "RegionOne"}
        path.write_text(json.dumps({"clouds": {name: entry for name in names or ("fake",)}}))
        return path

    def _service(self, kind: str, url: str) -> dict[str, Any]:
        endpoint = {"id": f"e-{kind}", "interface": "public", "region": "RegionOne", "region_id": "RegionOne"}
        return {"type": kind, "name": kind, "id": f"s-{kind}", "endpoints": [endpoint | {"url": url}]}

    def token(self) -> dict[str, Any]:
        compute = f"{self.url}/compute/v2.1"
        return {
            "token": {
                "methods": ["password"],
                "expires_at": "2099-01-01T00:00:00.000000Z",
                "issued_at": "2026-01-01T00:00:00.000000Z",
                "user": {"id": "u1", "name": "u", "domain": {"id": "default", "name": "Default"}},
                "project": {
                    "id": self.project_id,
                    "name": "p",
                    "domain": {"id": "default", "name": "Default"},
                },
                "roles": [{"id": f"r-{role}", "name": role} for role in self.roles],
                "catalog": [
                    {
                        "type": "compute",
                        "name": "nova",
                        "id": "c1",
                        "endpoints": [
                            {
                                "id": "e1",
                                "interface": "public",
                                "region": "RegionOne",
                                "region_id": "RegionOne",
                                "url": compute,
                            }
                        ],
                    },
                    {
                        "type": "identity",
                        "name": "keystone",
                        "id": "k1",
                        "endpoints": [
                            {
                                "id": "e2",
                                "interface": "public",
                                "region": "RegionOne",
                                "region_id": "RegionOne",
                                "url": f"{self.url}/v3",
                            }
                        ],
                    },
                    self._service("block-storage", f"{self.url}/volume/v3/{self.project_id}"),
                    self._service("network", f"{self.url}/network"),
                    self._service("image", f"{self.url}/image"),
                ],
            }
        }


class JsonHandler(http.server.BaseHTTPRequestHandler):
    """What every OpenStack stand-in's handler does alike: no request log, replies in JSON."""

    def log_message(self, *_: object) -> None:
        pass

    def reply(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None or status == 204 else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


def _handler(cloud: FakeCloud) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length)
            path = self.path.split("?")[0]
            cloud.requests.append(("POST", self.path))
            if path == "/v3/auth/tokens":
                self.reply(201, cloud.token(), {"X-Subject-Token": "fake-token"})
            else:
                cloud.posted.append((path, json.loads(data or b"null")))
                self.reply(*cloud.answer(path))

        def do_DELETE(self) -> None:
            path = self.path.split("?")[0]
            cloud.requests.append(("DELETE", self.path))
            scripted = cloud.script.get(f"DELETE {path}")
            self.reply(*(scripted.pop(0) if scripted else (204, None)))

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            cloud.requests.append(("GET", self.path))
            if path in ("/v3", "/v3/"):
                version = {
                    "id": "v3.14",
                    "status": "stable",
                    "links": [{"rel": "self", "href": f"{cloud.url}/v3/"}],
                }
                self.reply(200, {"version": version})
            elif path in ("/compute", "/compute/", "/compute/v2.1", "/compute/v2.1/"):
                version = {
                    "id": "v2.1",
                    "status": "CURRENT",
                    "version": "2.95",
                    "min_version": "2.1",
                    "links": [{"rel": "self", "href": f"{cloud.url}/compute/v2.1/"}],
                }
                self.reply(
                    200,
                    {"version": version}
                    if path.endswith("2.1") or path.endswith("2.1/")
                    else {"versions": [version]},
                )
            elif path in ("/image", "/image/"):
                # Glance's version document (glance/api/versions.py): 300 Multiple Choices.
                version = {
                    "id": "v2.16",
                    "status": "CURRENT",
                    "links": [{"rel": "self", "href": f"{cloud.url}/image/v2/"}],
                }
                self.reply(300, {"versions": [version]})
            elif path == "/image/v2/images" and cloud.images is not None and path not in cloud.answers:
                name = parse_qs(urlsplit(self.path).query).get("name", [None])[0]
                found = [i for i in cloud.images if name is None or i.get("name") == name]
                self.reply(200, {"images": found, "first": "/v2/images"})
            else:
                self.reply(*cloud.answer(path))

    return Handler


@contextmanager
def serve(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[int]:
    """``handler`` answering on 127.0.0.1 (a free port, yielded) from a thread of its own, until the
    block ends: the one way the tests' HTTP stand-ins are served."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def fake_cloud(
    roles: list[str],
    answers: dict[str, tuple[int, Any]] | None = None,
    images: list[dict[str, Any]] | None = None,
) -> Iterator[FakeCloud]:
    cloud = FakeCloud(roles, answers=dict(answers or {}), images=images)
    with serve(_handler(cloud)) as port:
        cloud.port = port
        yield cloud
