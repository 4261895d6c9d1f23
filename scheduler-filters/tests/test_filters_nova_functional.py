"""Nova end to end with Nova's own functional fixtures: the suite in nova_functional/."""

from __future__ import annotations

import importlib.util

import pytest

from isolated_suite import run_suite


@pytest.mark.skipif(
    importlib.util.find_spec("nova") is None or importlib.util.find_spec("placement") is None,
    reason="nova and openstack-placement are not installed",
)
def test_pods_through_the_real_nova_api_conductor_scheduler_and_placement() -> None:
    # One child per file at once: the moving of a first-design service (one file) takes as long as
    # the nine other tests together.
    assert run_suite("nova_functional", "nova_functional_test_*.py", file_at_once=True) >= 10
