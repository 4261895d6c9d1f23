"""Shared fixtures: a throw-away copy of the project whose catalog and stack files a test may edit; the
session's order (the ``child_suite`` tests first); and the fast tier (WEBEX_FAST_TESTS=1), which skips the
tests marked ``full_tier`` and the integration tier."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from webex_cloud.paths import PROJECT_DIR

REPO = PROJECT_DIR


def fast_tier() -> bool:
    return os.environ.get("WEBEX_FAST_TESTS") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A conftest hook sees every collected item of the session, scheduler-filters/tests' too.
    # The child suites are the session's longest tests (a minute for Nova's): started first, they run
    # beside everything else when the fast tier spreads the tests over workers, instead of holding one
    # worker at the end. A stable sort: every other test keeps its order.
    items.sort(key=lambda item: item.get_closest_marker("child_suite") is None)
    if not fast_tier():
        return
    skip = pytest.mark.skip(reason="fast tier (WEBEX_FAST_TESTS=1): an end-to-end run, full tier only")
    for item in items:
        if item.get_closest_marker("full_tier"):
            item.add_marker(skip)


class ProjectCopy:
    """The example project copied to a temporary folder, with YAML editing helpers."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for name in ("catalog", "stacks"):
            shutil.copytree(REPO / name, root / name)
        shutil.copy(REPO / "__main__.py", root / "__main__.py")
        shutil.copy(REPO / "Pulumi.yaml", root / "Pulumi.yaml")

    def load(self, relative: str) -> Any:
        return yaml.safe_load((self.root / relative).read_text())

    def save(self, relative: str, data: Any) -> None:
        (self.root / relative).write_text(yaml.safe_dump(data, sort_keys=False))

    def edit(self, relative: str, change: Callable[[Any], object]) -> None:
        """Apply ``change`` to the parsed file in place (its return value is ignored) and save it."""
        data = self.load(relative)
        change(data)
        self.save(relative, data)

    def edit_datacenter(self, stack: str, change: Callable[[dict[str, Any]], object]) -> None:
        self.edit(f"stacks/Pulumi.{stack}.yaml", lambda doc: change(doc["config"]["webex-cloud:datacenter"]))

    def write(self, relative: str, text: str) -> None:
        (self.root / relative).write_text(text)


@pytest.fixture
def project(tmp_path: Path) -> ProjectCopy:
    return ProjectCopy(tmp_path / "project")
