"""Cinder's real scheduler code with our filter: the suite in cinder_suite/, in its own process."""

from __future__ import annotations

import importlib.util

import pytest

from isolated_suite import run_suite


@pytest.mark.child_suite
@pytest.mark.skipif(importlib.util.find_spec("cinder") is None, reason="cinder is not installed")
def test_cinder_suite_passes_in_cinders_own_process() -> None:
    assert run_suite("cinder_suite", "cinder_test_*.py") >= 20
