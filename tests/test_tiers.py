"""The test tiers as a developer runs them: the integration tier refuses pytest-xdist workers."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys

import pytest

from tests.conftest import REPO


def full_tier_pytest(*args: str) -> subprocess.CompletedProcess[str]:
    # Not the fast tier, and not inside this run's own worker.
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST_", "WEBEX_FAST"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_integration_tests_on_workers_fail_with_the_reason_instead_of_hanging() -> None:
    # Before: each worker rolled our filters out under the environment's lock for its whole session,
    # and a deployment on another worker waited for that lock forever.
    done = full_tier_pytest("-n", "1", "tests/integration/test_loopback_env.py")
    assert done.returncode == 1, done.stdout[-3000:]
    tests = (REPO / "tests/integration/test_loopback_env.py").read_text().count("\ndef test_")
    assert f"{tests} errors" in done.stdout, done.stdout[-3000:]  # every test, at its setup
    assert "run them in one process, without -n/--numprocesses" in done.stdout
    assert "Connection refused" not in done.stdout  # refused before any test talked to a cloud


def test_a_test_cannot_reach_beyond_loopback() -> None:
    """tests/conftest.py refuses, before any packet leaves, a connection to an address outside 127.0.0.0/8
    and ::1 (here one of the example stacks' 10.x addresses), and would fail the test that tried."""
    from tests import conftest

    with socket.socket() as sock, pytest.raises(ConnectionRefusedError, match=r"127\.0\.0\.0/8 and ::1 only"):
        sock.connect(("10.250.1.15", 9090))
    with socket.socket() as sock:
        assert sock.connect_ex(("10.250.1.15", 9090)) == errno.ECONNREFUSED
    assert conftest._STRAYS == ["10.250.1.15:9090", "10.250.1.15:9090"]
    conftest._STRAYS.clear()  # this test's own attempts were the point
    with socket.create_server(("127.0.0.1", 0)) as server, socket.socket() as sock:
        sock.connect(server.getsockname())  # loopback is allowed


def test_a_datagram_socket_may_pick_a_route_but_sends_to_loopback_only() -> None:
    """Connecting a UDP socket sends nothing: oslo.utils asks the kernel for its source address that way
    (netutils.get_my_ipv4, 192.0.2.0) when Nova is imported, and a test that imports Nova first must not
    fail for it. What such a socket sends is checked: outside loopback it is refused, as a connection is."""
    from oslo_utils import netutils

    from tests import conftest

    assert netutils.get_my_ipv4()
    assert conftest._STRAYS == []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(("10.250.1.15", 53))
        with pytest.raises(ConnectionRefusedError, match=r"127\.0\.0\.0/8 and ::1 only"):
            sock.send(b"x")
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock,
        pytest.raises(ConnectionRefusedError, match=r"127\.0\.0\.0/8 and ::1 only"),
    ):
        sock.sendto(b"x", ("10.250.1.15", 53))
    assert conftest._STRAYS == ["10.250.1.15:53", "10.250.1.15:53"]
    conftest._STRAYS.clear()  # this test's own attempts were the point
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender,
    ):
        receiver.bind(("127.0.0.1", 0))
        sender.sendto(b"x", receiver.getsockname())
        assert receiver.recv(1) == b"x"


def test_the_fast_tier_skips_every_loopback_test_and_runs_none() -> None:
    """Every file under tests/integration is of the full tier by where it is (the end-to-end monitoring
    proof starts Prometheus against the loopback's Nova): the fast tier skips each, saying why."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            "tests/integration",
        ],
        cwd=REPO,
        env={**env, "WEBEX_FAST_TESTS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    summary = done.stdout.strip().splitlines()[-1]
    assert "skipped" in summary and "passed" not in summary and "error" not in summary, summary
    skipped = {
        line.split(":")[0].split()[-1] for line in done.stdout.splitlines() if line.startswith("SKIPPED")
    }
    files = {str(p.relative_to(REPO)) for p in (REPO / "tests/integration").glob("test_*.py")}
    assert skipped == files, files ^ skipped
    assert "fast tier (WEBEX_FAST_TESTS=1): needs the loopback OpenStack" in done.stdout


def test_the_full_tiers_two_passes_split_the_suite_at_the_integration_tests() -> None:
    """scripts/test.sh runs the full tier as ``-m "not integration"`` on every core, then ``-m integration``
    in one process: every integration test lands in the second pass, and nothing else does."""

    def collected(*args: str) -> set[str]:
        done = full_tier_pytest("--collect-only", *args)
        assert done.returncode == 0, done.stdout[-3000:]
        return {line for line in done.stdout.splitlines() if "::" in line}

    integration, others = collected("-m", "integration"), collected("-m", "not integration")
    assert integration, "no integration test collected"
    assert all(node.startswith("tests/integration/") for node in integration), integration
    assert not any(node.startswith("tests/integration/") for node in others)
    assert integration | others == collected()
