"""Suites that must run in a process of their own are collected by isolated_suite, not here."""

from __future__ import annotations

import pytest

collect_ignore = ["cinder_suite", "nova_functional"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The child suites are the session's longest tests (a minute for Nova's): started first, they run
    # beside everything else when the fast tier spreads the tests over workers, instead of holding one
    # worker at the end. A stable sort over the whole session: every other test keeps its order.
    items.sort(key=lambda item: item.get_closest_marker("child_suite") is None)
