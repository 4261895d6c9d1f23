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
    # One child for both files, not one each at once: with the other process loading the machine, an
    # evacuation's compute claim once met a reader transaction still open on the request context the
    # in-process services share ("Can't upgrade a READER transaction to a WRITER") and failed.
    assert run_suite("nova_functional", "nova_functional_test_*.py") >= 10
