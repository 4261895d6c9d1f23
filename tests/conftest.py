"""Shared fixtures: a throw-away copy of the project whose catalog and stack files a test may edit; the
session's order (the ``child_suite`` tests first); and the fast tier (WEBEX_FAST_TESTS=1), which skips the
tests marked ``full_tier`` and the integration tier."""

from __future__ import annotations

import errno
import ipaddress
import os
import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from webex_cloud.paths import PROJECT_DIR

REPO = PROJECT_DIR

# Tests send traffic to 127.0.0.0/8 and ::1 only, never to an address of the example stacks (10.x) or
# anywhere else: every connection a test's own process opens is checked here, and one to another address
# fails the test even where the code under test took the refusal for "unreachable" and went on.
_STRAYS: list[str] = []
_CONNECT = socket.socket.connect
_CONNECT_EX = socket.socket.connect_ex


def _stray(address: object) -> str | None:
    """The address a connection would leave the machine for; None for loopback and local sockets."""
    if not isinstance(address, tuple) or not address:
        return None  # a Unix socket's path
    host = str(address[0]).split("%", 1)[0]
    if host == "localhost":
        return None
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host  # a name that is not localhost: nothing a test should resolve
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return None if (mapped or ip).is_loopback else f"{host}:{address[1]}"


def _connect(self: socket.socket, address: object) -> None:
    stray = _stray(address)
    # A datagram socket's connect sends nothing (it only picks a route and a source address: oslo.utils'
    # netutils.get_my_ipv4 connects one to 192.0.2.0 when Nova is imported); what it sends is checked below.
    if stray is not None and self.type != socket.SOCK_DGRAM:
        _STRAYS.append(stray)
        raise ConnectionRefusedError(
            errno.ECONNREFUSED, f"tests connect to 127.0.0.0/8 and ::1 only: {stray}"
        )
    _CONNECT(self, address)  # type: ignore[arg-type]


def _connect_ex(self: socket.socket, address: object) -> int:
    stray = _stray(address)
    if stray is not None and self.type != socket.SOCK_DGRAM:
        _STRAYS.append(stray)
        return errno.ECONNREFUSED
    return _CONNECT_EX(self, address)  # type: ignore[arg-type]


def _refuse_datagram_to(stray: str | None) -> None:
    if stray is not None:
        _STRAYS.append(stray)
        raise ConnectionRefusedError(errno.ECONNREFUSED, f"tests send to 127.0.0.0/8 and ::1 only: {stray}")


def _peer(sock: socket.socket) -> object:
    try:
        return sock.getpeername()
    except OSError:
        return None


def _send(self: socket.socket, data: Any, *args: Any) -> int:
    if self.type == socket.SOCK_DGRAM:
        _refuse_datagram_to(_stray(_peer(self)))
    return _SEND(self, data, *args)


def _sendto(self: socket.socket, data: Any, *args: Any) -> int:
    if self.type == socket.SOCK_DGRAM:
        _refuse_datagram_to(_stray(args[-1]))
    return _SENDTO(self, data, *args)


_SEND = socket.socket.send
_SENDTO = socket.socket.sendto
socket.socket.connect = _connect  # type: ignore[method-assign,assignment]
socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign,assignment]
socket.socket.send = _send  # type: ignore[method-assign,assignment]
socket.socket.sendto = _sendto  # type: ignore[method-assign,assignment]


@pytest.fixture(autouse=True)
def _loopback_only() -> Iterator[None]:
    _STRAYS.clear()
    yield
    if _STRAYS:
        pytest.fail(
            f"the test tried to connect outside 127.0.0.0/8 and ::1: {', '.join(sorted(set(_STRAYS)))}"
        )


def fast_tier() -> bool:
    return os.environ.get("WEBEX_FAST_TESTS") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A conftest hook sees every collected item of the session, scheduler-filters/tests' too.
    # The child suites are the session's longest tests (a minute for Nova's): started first, they run
    # beside everything else when the fast tier spreads the tests over workers, instead of holding one
    # worker at the end. A stable sort: every other test keeps its order.
    items.sort(key=lambda item: item.get_closest_marker("child_suite") is None)
    if not fast_tier():
        return
    skip = pytest.mark.skip(reason="fast tier (WEBEX_FAST_TESTS=1): an end-to-end run, full tier only")
    for item in items:
        if item.get_closest_marker("full_tier"):
            item.add_marker(skip)


class ProjectCopy:
    """The example project copied to a temporary folder, with YAML editing helpers."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for name in ("catalog", "stacks"):
            shutil.copytree(REPO / name, root / name)
        shutil.copy(REPO / "__main__.py", root / "__main__.py")
        shutil.copy(REPO / "Pulumi.yaml", root / "Pulumi.yaml")

    def load(self, relative: str) -> Any:
        return yaml.safe_load((self.root / relative).read_text())

    def save(self, relative: str, data: Any) -> None:
        (self.root / relative).write_text(yaml.safe_dump(data, sort_keys=False))

    def edit(self, relative: str, change: Callable[[Any], object]) -> None:
        """Apply ``change`` to the parsed file in place (its return value is ignored) and save it."""
        data = self.load(relative)
        change(data)
        self.save(relative, data)

    def edit_datacenter(self, stack: str, change: Callable[[dict[str, Any]], object]) -> None:
        self.edit(f"stacks/Pulumi.{stack}.yaml", lambda doc: change(doc["config"]["webex-cloud:datacenter"]))

    def write(self, relative: str, text: str) -> None:
        (self.root / relative).write_text(text)


@pytest.fixture
def project(tmp_path: Path) -> ProjectCopy:
    return ProjectCopy(tmp_path / "project")
