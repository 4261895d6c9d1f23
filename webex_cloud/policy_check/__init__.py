"""Run the real CrossGuard policy pack (policies/) over offline plans, without the Pulumi CLI.

``PolicyChecker`` starts the pack as the CLI does and drives the Analyzer protocol; the `plan`
command's pipeline (webex_cloud.commands.pipeline.check_plans) prints its verdicts next to the plans.
See docs/policies.md.
"""

from __future__ import annotations

from webex_cloud.policy_check.analyzer import PackError
from webex_cloud.policy_check.check import (
    PolicyChecker,
    PolicyNotApplicable,
    PolicyRun,
    Violation,
    format_run,
)
from webex_cloud.policy_check.config import PolicyConfigError
from webex_cloud.policy_check.wire import UnknownInput, Unknowns

__all__ = [
    "PackError",
    "PolicyChecker",
    "PolicyConfigError",
    "PolicyNotApplicable",
    "PolicyRun",
    "UnknownInput",
    "Unknowns",
    "Violation",
    "format_run",
]
