"""The example dc1 plan, rendered in-process once per session for the audit and picture tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.audit.fakes import STACK
from tests.conftest import REPO
from webex_cloud.audit.expected import Expected, expected_from_plan
from webex_cloud.placement.plan import PlacementPlan, load_placement
from webex_cloud.plan.document import render_plan
from webex_cloud.plan.format import dumps, read_plan


@pytest.fixture(scope="session")
def plan_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audit") / f"{STACK}.json"
    path.write_text(dumps(render_plan(STACK, project_dir=REPO)))
    return path


@pytest.fixture(scope="session")
def plan(plan_file: Path) -> PlacementPlan:
    """The placement view of the plan (what `place` draws)."""
    return load_placement(plan_file)


@pytest.fixture(scope="session")
def expected(plan_file: Path) -> Expected:
    return expected_from_plan(read_plan(plan_file), str(plan_file))
