"""The health gate's probe against real sockets on 127.0.0.1: passes, fails, and says which instance."""

from __future__ import annotations

import http.server
import io
import socket
from collections.abc import Iterator

import pytest

from tests.cloud.fake_cloud import serve
from webex_cloud.exit_codes import ExitCode
from webex_cloud.release.probe import Check, GateSpec, Target, main, run_gate


@pytest.fixture
def http_server() -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/healthz" else 503)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    with serve(Handler) as port:
        yield port


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _spec(*targets: Target) -> GateSpec:
    return GateSpec("dc1", "svc", 2, 3, 1, ("svc-pod-1",), 5.0, targets)


def _target(name: str, check: Check) -> Target:
    return Target("svc-pod-1", name, "app", "10.0.0.1", check)


def test_a_wave_whose_instances_all_serve_passes(http_server: int) -> None:
    ok = Check("http", http_server, "/healthz", 200, 1.0, 0.05, 3)
    tcp = Check("tcp", http_server, interval_s=0.05, successes=2)
    out = io.StringIO()
    spec = _spec(_target("svc-pod-1-app-0", ok), _target("svc-pod-1-app-1", tcp))
    mapping = {"svc-pod-1-app-0": "127.0.0.1", "svc-pod-1-app-1": "127.0.0.1"}
    assert run_gate(spec, address_map=mapping, stream=out)
    log = out.getvalue()
    assert "dc1/svc wave 2/3: pods svc-pod-1; probing 2 instances" in log
    assert "svc-pod-1-app-0 (10.0.0.1 http GET :" in log and "3 successes in a row" in log
    assert "wave 2/3 PASSED" in log


def test_a_wrong_status_or_a_closed_port_fails_the_gate_naming_the_instance(http_server: int) -> None:
    wrong = Check("http", http_server, "/other", 200, 1.0, 0.05, 1)
    closed = Check("tcp", _closed_port(), interval_s=0.05, successes=1)
    out = io.StringIO()
    spec = _spec(_target("svc-pod-1-app-0", wrong), _target("svc-pod-1-app-1", closed))
    mapping = {"svc-pod-1-app-0": "127.0.0.1", "svc-pod-1-app-1": "127.0.0.1"}
    assert not run_gate(spec, address_map=mapping, deadline_s=0.5, stream=out)
    log = out.getvalue()
    assert "svc-pod-1-app-0 (10.0.0.1 http GET :" in log and "HTTP 503, expected 200" in log
    assert "svc-pod-1-app-1 (10.0.0.1 tcp/" in log and "NOT serving" in log
    assert "wave 2/3 FAILED" in log and "later waves keep the old version" in log


def test_the_spec_round_trips_and_a_bad_spec_is_unusable_input(capsys: pytest.CaptureFixture[str]) -> None:
    spec = _spec(_target("svc-pod-1-app-0", Check("tcp", 443)))
    assert GateSpec.from_json(spec.to_json()) == spec
    assert main(['{"format": "something else"}']) == ExitCode.INPUT
    assert "unusable gate spec" in capsys.readouterr().err
