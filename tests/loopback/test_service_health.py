"""The loopback's "reported up since its start" check (tools/openstack-loopback/loopback.py)."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from types import ModuleType

from tests.conftest import REPO

SCRIPT = REPO / "tools" / "openstack-loopback" / "loopback.py"


def load_loopback() -> ModuleType:
    spec = importlib.util.spec_from_file_location("loopback_tool", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def service(updated: datetime) -> dict[str, object]:
    # As Nova's os-services API returns it: naive UTC, whole seconds.
    return {"binary": "nova-scheduler", "host": "ctl-2", "state": "up", "updated_at": updated.isoformat()}


START = datetime(2026, 12, 1, 10, 0, 5, tzinfo=UTC)


def test_a_report_in_the_start_second_may_be_the_old_process_and_proves_nothing() -> None:
    loopback = load_loopback()
    last_report_of_old_process = service(START.replace(tzinfo=None))
    assert not loopback._up_since([last_report_of_old_process], "nova-scheduler", "ctl-2", START.timestamp())


def test_a_report_after_the_start_second_proves_the_new_process() -> None:
    loopback = load_loopback()
    report = service(START.replace(second=6, tzinfo=None))
    assert loopback._up_since([report], "nova-scheduler", "ctl-2", START.timestamp())


def test_a_down_or_missing_service_is_not_up() -> None:
    loopback = load_loopback()
    down = {**service(START.replace(second=9, tzinfo=None)), "state": "down"}
    assert not loopback._up_since([down], "nova-scheduler", "ctl-2", START.timestamp())
    assert not loopback._up_since([], "nova-scheduler", "ctl-2", START.timestamp())
