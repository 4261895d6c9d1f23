"""Nova end to end with Nova's own functional fixtures: the suites in nova_functional/.

Each runs in a child process of its own: Nova's fixtures monkey-patch the interpreter with eventlet
(nova_functional/pod_case.py says why that must come first).
"""

from __future__ import annotations

import importlib.util

import pytest

from isolated_suite import run_suite

needs_nova = pytest.mark.skipif(
    importlib.util.find_spec("nova") is None or importlib.util.find_spec("placement") is None,
    reason="nova and openstack-placement are not installed",
)
pytestmark = pytest.mark.child_suite


@needs_nova
def test_pods_through_the_real_nova_api_conductor_scheduler_and_placement() -> None:
    assert run_suite("nova_functional", "nova_functional_test_pods.py") >= 12


@needs_nova
@pytest.mark.full_tier
def test_moving_first_design_pods_through_the_real_nova() -> None:
    # One test of ~40 s (twelve instances replaced pod by pod): the full tier runs it, the fast tier
    # keeps to its few minutes.
    assert run_suite("nova_functional", "nova_functional_test_first_design.py") >= 1
