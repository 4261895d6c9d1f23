"""The example dc1 plan (rendered as the audit tests render it), read as a plan, and its catalog."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.audit.conftest import plan_file
from tests.conftest import REPO
from webex_cloud.audit.expected import Expected, expected_from_plan
from webex_cloud.config.loader import load_catalog
from webex_cloud.config.models import Service
from webex_cloud.plan.format import Plan, read_plan


@pytest.fixture(scope="session")
def plan(plan_file: Path) -> Plan:
    return read_plan(plan_file)


@pytest.fixture(scope="session")
def expected(plan: Plan, plan_file: Path) -> Expected:
    return expected_from_plan(plan, str(plan_file))


@pytest.fixture(scope="session")
def catalog() -> list[tuple[str, Service]]:
    return load_catalog(REPO)


__all__ = ["plan_file"]
