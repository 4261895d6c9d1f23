"""The example dc1 plan and its deployment as the audit tests render them."""

from __future__ import annotations

from tests.audit.conftest import expected, plan, plan_file

__all__ = ["expected", "plan", "plan_file"]
