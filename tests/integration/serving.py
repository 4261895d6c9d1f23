"""What runs on a loopback server, kept in step with Nova: listeners on 127.0.0.x that exist while Nova
shows the server in a serving state, and a measure of how many pods serve.

The loopback's servers have no network interface (the fake virt driver boots nothing), so a test that
asks "does this pod serve" stands an instance in for each server: a listener on a loopback address of
its own, opened and closed by :func:`follow` as Nova's view of the server changes. The tests that judge
a release (test_release_judged_and_rolled_back.py) and a drain (test_maintain_drain.py) share it.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

from webex_cloud.release.probe import Check, attempt

ANSWER: Final = b"ok\n"


class _Answer(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        # A health probe closes as soon as it connected: its end may be gone before the answer.
        with contextlib.suppress(OSError):
            self.request.sendall(ANSWER)


class Listener(socketserver.ThreadingTCPServer):
    """One instance's service port: accepts each connection, answers one line and closes. A bare
    listener that never accepts would fill its backlog under frequent probes and then time connects out."""

    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, address: str, port: int) -> None:
        super().__init__((address, port), _Answer)
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class Instance:
    """What runs on one server: its service port, listening only while :meth:`set_serving` says so."""

    def __init__(self, address: str, port: int) -> None:
        self.address, self.port = address, port
        self._listener: Listener | None = None

    def set_serving(self, serving: bool) -> None:
        if serving and self._listener is None:
            self._listener = Listener(self.address, self.port)
        elif not serving and self._listener is not None:
            self._listener.stop()
            self._listener = None


def follow(
    conn: Any,
    ids: Mapping[str, str],
    become: Callable[[str, Any], None],
    stop: threading.Event,
    interval_s: float = 0.1,
    **query: Any,
) -> None:
    """Until ``stop``: list the servers (``conn.compute.servers(details=True, **query)``, one request a
    round) and call ``become(key, server)`` for each of ``ids`` (server ID -> the test's key for it)."""
    while not stop.is_set():
        for server in conn.compute.servers(details=True, **query):
            if server.id in ids:
                become(ids[server.id], server)
        stop.wait(interval_s)


def request(address: str, port: int, timeout_s: float = 0.5) -> bool:
    """One client request: connect and read the instance's answer."""
    try:
        with socket.create_connection((address, port), timeout=timeout_s) as connection:
            connection.settimeout(timeout_s)
            return connection.recv(len(ANSWER)) == ANSWER
    except OSError:
        return False


def pods_serving(pods: Iterable[Sequence[tuple[str, int]]], timeout_s: float = 0.5) -> int:
    """How many of ``pods`` (each its instances' ``(address, port)``) answer on every instance."""
    return sum(
        all(attempt(Check("tcp", port, timeout_s=timeout_s), address) is None for address, port in pod)
        for pod in pods
    )
