"""A release rolled across a service's pods through the real Nova API, in the plan's waves with its gates.

The plan's meetings-signalling gates (3 waves of 1 pod, 3 instances each) are followed as the engine
would: each wave's instances are rebuilt to a second Glance image (what terraform-provider-openstack
v3.4.0 does for an image change: ``servers.Rebuild``, then wait for ACTIVE), then the wave's own gate
probe runs, and the next wave starts only once it passed. The loopback servers have no network
interface, so each gate target is mapped one to one onto a TCP responder on 127.0.x.y that listens only
while Nova reports that server ACTIVE. The timeline comes from the servers' instance actions.
"""

from __future__ import annotations

import io
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import REPO
from tests.integration.conftest import Cleanup, boot_server, ensure_flavor, wait_for
from webex_cloud.plan.document import render_plan
from webex_cloud.release.probe import GateSpec, run_gate
from webex_cloud.release.rollout import GATE_TYPE

SERVICE = "meetings-signalling"
PREFIX = "i9-"


@dataclass
class Responder:
    """A TCP listener on a loopback address that exists only while its server is ACTIVE."""

    address: str
    port: int
    broken: bool = False
    """The service on the instance does not come up: never listen (the gate must fail)."""
    _socket: socket.socket | None = None

    def set_active(self, active: bool) -> None:
        if active and not self.broken and self._socket is None:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.address, self.port))
            listener.listen(16)
            self._socket = listener
        elif not (active and not self.broken) and self._socket is not None:
            self._socket.close()
            self._socket = None

    def answers(self) -> bool:
        try:
            with socket.create_connection((self.address, self.port), timeout=1):
                return True
        except OSError:
            return False


@dataclass
class Watch:
    """Polls Nova and opens/closes each server's responder to match its status."""

    conn: Any
    responders: dict[str, Responder]
    servers: dict[str, str]
    """Instance name -> server id."""
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            for name, server_id in self.servers.items():
                status = self.conn.compute.get_server(server_id).status
                self.responders[name].set_active(status == "ACTIVE")
            time.sleep(0.2)


def _gates() -> list[GateSpec]:
    plan = render_plan("dc1", project_dir=REPO)
    specs = [GateSpec.from_json(r["inputs"]["create"]) for r in plan["resources"] if r["type"] == GATE_TYPE]
    # The serving half of each gate, against Nova: dc1's Prometheus nodes (10.250.1.x) are no part of
    # the loopback, and tests reach 127.0.0.0/8 only. The metrics half is proven against a real
    # Prometheus in tests/release/test_gate_real_prometheus.py.
    return sorted((replace(s, analysis=None) for s in specs if s.service == SERVICE), key=lambda s: s.wave)


def _image(conn: Any, cleanup: Cleanup, name: str) -> Any:
    image = conn.image.find_image(name) or conn.create_image(
        name, data=name.encode().ljust(1024, b"\0"), disk_format="raw", container_format="bare", wait=True
    )
    return cleanup.image(image)


def _wait_active(conn: Any, server_id: str) -> None:
    def probe() -> bool | None:
        return True if conn.compute.get_server(server_id).status == "ACTIVE" else None

    wait_for(f"{server_id} ACTIVE", probe, timeout=180)


def _rebuild(conn: Any, server_id: str, image: Any) -> None:
    conn.compute.rebuild_server(server_id, image=image.id)
    # The provider waits out REBUILD until ACTIVE (resource_openstack_compute_instance_v2.go v3.4.0).
    _wait_active(conn, server_id)


def _rebuild_started(conn: Any, server_id: str, after: datetime) -> datetime:
    """Start of the server's latest rebuild action (Nova's own record of when the disruption began)."""
    starts = [
        datetime.fromisoformat(a.start_time.replace("Z", "")).replace(tzinfo=UTC)
        for a in conn.compute.server_actions(server_id)
        if a.action == "rebuild"
    ]
    started = max(starts)
    assert started >= after.replace(microsecond=0)
    return started


@pytest.fixture
def fleet(openstack_conn: Any, cleanup: Cleanup) -> Iterator[tuple[list[GateSpec], dict[str, str], Watch]]:
    gates = _gates()
    flavor = ensure_flavor(openstack_conn)
    old = _image(openstack_conn, cleanup, f"{PREFIX}webex-base-2026.11")
    targets = [t for gate in gates for t in gate.targets]
    servers = {
        t.instance: cleanup.server(
            boot_server(openstack_conn, f"{PREFIX}{t.instance}", flavor=flavor, image=old, wait=False)
        ).id
        for t in targets
    }
    for server_id in servers.values():
        _wait_active(openstack_conn, server_id)
    responders = {t.instance: Responder(f"127.0.9.{10 + i}", t.check.port) for i, t in enumerate(targets)}
    watch = Watch(openstack_conn, responders, servers)
    thread = threading.Thread(target=watch.run, daemon=True)
    thread.start()
    yield gates, servers, watch
    watch.stop.set()
    thread.join()
    for responder in responders.values():
        responder.set_active(False)


def _roll(
    conn: Any, gates: list[GateSpec], servers: dict[str, str], watch: Watch, image: Any, deadline_s: float
) -> tuple[list[tuple[str, datetime, datetime]], str]:
    """Wave by wave: rebuild, then the gate's probe; stop at the first failed gate."""
    windows: list[tuple[str, datetime, datetime]] = []
    log = io.StringIO()
    mapping = {name: r.address for name, r in watch.responders.items()}
    for gate in gates:
        began = datetime.now(UTC)
        for target in gate.targets:
            _rebuild(conn, servers[target.instance], image)
        passed = run_gate(gate, address_map=mapping, deadline_s=deadline_s, stream=log)
        ended = datetime.now(UTC)
        start = min(_rebuild_started(conn, servers[t.instance], began) for t in gate.targets)
        windows.append((gate.pods[0], start, ended))
        if not passed:
            break
    return windows, log.getvalue()


def test_image_release_rolls_wave_by_wave_and_stops_at_a_failed_gate(
    openstack_conn: Any, cleanup: Cleanup, fleet: tuple[list[GateSpec], dict[str, str], Watch]
) -> None:
    gates, servers, watch = fleet
    pods = len(gates)
    max_unavailable = gates[0].max_unavailable
    assert pods == 3 and all(len(g.pods) <= max_unavailable for g in gates)

    new = _image(openstack_conn, cleanup, f"{PREFIX}webex-base-2026.12")
    windows, log = _roll(openstack_conn, gates, servers, watch, new, deadline_s=60)
    assert log.count("PASSED") == pods, log
    # Disrupted from the first rebuild action of its wave until its gate passed: never two pods at once.
    for (pod_a, _, end_a), (pod_b, start_b, _) in itertools.pairwise(windows):
        # Nova records action times to the second.
        assert end_a.replace(microsecond=0) <= start_b, f"{pod_a} still disrupted when {pod_b} started"
    assert all(openstack_conn.compute.get_server(s).image.id == new.id for s in servers.values())

    # The next release: wave 2's service does not come up, so its gate fails and the rollout stops there.
    newer = _image(openstack_conn, cleanup, f"{PREFIX}webex-base-2026.13")
    for target in gates[1].targets:
        watch.responders[target.instance].broken = True
    windows, log = _roll(openstack_conn, gates, servers, watch, newer, deadline_s=8)
    assert [w[0] for w in windows] == [gates[0].pods[0], gates[1].pods[0]]
    assert "wave 1/3 PASSED" in log and "wave 2/3 FAILED" in log and "wave 3/3" not in log, log
    for target in gates[2].targets:
        server = openstack_conn.compute.get_server(servers[target.instance])
        assert server.image.id == new.id and server.status == "ACTIVE"
        assert watch.responders[target.instance].answers()
    # Waves 1 and 3 serve while wave 2 is down: pods - max_unavailable.
    serving = [g for g in gates if all(watch.responders[t.instance].answers() for t in g.targets)]
    assert len(serving) >= pods - max_unavailable
