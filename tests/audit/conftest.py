"""The example dc1 plan, rendered in-process once per session for the audit and picture tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.audit.fakes import STACK
from tests.conftest import REPO
from webex_cloud.audit.expected import Expected, expected_from_plan
from webex_cloud.placement.plan import Plan, load_plan
from webex_cloud.plan.document import dumps, render_plan


@pytest.fixture(scope="session")
def plan_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audit") / f"{STACK}.json"
    path.write_text(dumps(render_plan(STACK, project_dir=REPO)))
    return path


@pytest.fixture(scope="session")
def plan(plan_file: Path) -> Plan:
    return load_plan(plan_file)


@pytest.fixture(scope="session")
def expected(plan: Plan) -> Expected:
    return expected_from_plan(plan)
