"""The offline engine keeps the filters' lookup limit without a thread per lookup (issue 29): a
lookup that stalls still means no valid host within the limit, logged, as in nova-scheduler."""

from __future__ import annotations

import dataclasses
import importlib.util
import threading
import time
from unittest import mock

import pytest
from webex_scheduler_filters import deadline
from webex_scheduler_filters.hints import (
    INSTANCE_POD_METADATA_KEY,
    INSTANCE_POD_ROLE_METADATA_KEY,
    INSTANCE_SERVICE_METADATA_KEY,
    NOVA_POD_HINT,
)

from webex_cloud.placement import engine
from webex_cloud.placement.engine import Cloud
from webex_cloud.placement.plan import Host, InstanceRequest

pytestmark = [
    pytest.mark.skipif(
        not all(importlib.util.find_spec(name) for name in ("nova", "cinder")),
        reason="nova and cinder are not installed",
    ),
    # pytest-timeout's default method holds SIGALRM, which the engine's timer would then leave alone.
    pytest.mark.timeout(300, method="thread"),
]

POD = "dc1/chat/chat-pod-1"
REQUEST = InstanceRequest(
    name="chat-pod-1-app-1",
    uuid="6f1c9a56-0d6c-4f7e-9a55-6a1c1f0e2b11",
    vcpus=4,
    ram_mb=8192,
    availability_zone="az1",
    group=None,
    group_policy=None,
    hints={NOVA_POD_HINT: POD},
    metadata={
        INSTANCE_SERVICE_METADATA_KEY: "dc1/chat",
        INSTANCE_POD_METADATA_KEY: POD,
        INSTANCE_POD_ROLE_METADATA_KEY: "member",
    },
)


def test_a_stalled_lookup_gets_no_host_within_its_limit_and_says_why(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    pipelines = engine.OpenStackPipelines({})
    cloud = Cloud.empty([Host(f"compute-{i}", 64, 65536, "az1") for i in range(3)])

    def stalled(cloud: Cloud, service: str) -> list[object]:
        time.sleep(3 * deadline.LOOKUP_TIMEOUT_SECONDS)  # the lookup's database stopped answering
        return []

    monkeypatch.setattr(engine, "_service_instances", stalled)
    started = time.monotonic()
    with mock.patch.object(threading.Thread, "start", side_effect=AssertionError("a thread per lookup")):
        passing = pipelines.hosts(REQUEST, list(cloud.hosts.values()), cloud)
    waited = time.monotonic() - started
    assert passing == []
    assert deadline.LOOKUP_TIMEOUT_SECONDS <= waited < deadline.LOOKUP_TIMEOUT_SECONDS + 0.9
    assert "PodFilter's service lookup did not answer within 2 s" in caplog.text


def test_an_answered_lookup_decides_as_before_without_a_thread() -> None:
    pipelines = engine.OpenStackPipelines({})
    cloud = Cloud.empty([Host(f"compute-{i}", 64, 65536, "az1") for i in range(3)])
    anchor = dataclasses.replace(
        REQUEST,
        name="chat-pod-1-app-0",
        uuid="0b5e8d1c-7a0e-4f53-8b8e-2c6f4d1e9a01",
        metadata={**REQUEST.metadata, INSTANCE_POD_ROLE_METADATA_KEY: "anchor"},
    )
    cloud.add(anchor, "compute-1")
    with mock.patch.object(threading.Thread, "start", side_effect=AssertionError("a thread per lookup")):
        assert pipelines.hosts(REQUEST, list(cloud.hosts.values()), cloud) == ["compute-1"]
