"""The example dc1 plan, rendered in-process once per session, and the catalog it was rendered from."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.audit.fakes import STACK
from tests.conftest import REPO
from webex_cloud.audit.expected import Expected, expected_from_plan
from webex_cloud.config.loader import load_catalog
from webex_cloud.config.models import Service
from webex_cloud.plan.document import render_plan
from webex_cloud.plan.format import Plan, dumps, read_plan


@pytest.fixture(scope="session")
def plan_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("drift") / f"{STACK}.json"
    path.write_text(dumps(render_plan(STACK, project_dir=REPO)))
    return path


@pytest.fixture(scope="session")
def plan(plan_file: Path) -> Plan:
    return read_plan(plan_file)


@pytest.fixture(scope="session")
def expected(plan: Plan, plan_file: Path) -> Expected:
    return expected_from_plan(plan, str(plan_file))


@pytest.fixture(scope="session")
def catalog() -> list[tuple[str, Service]]:
    return load_catalog(REPO)
