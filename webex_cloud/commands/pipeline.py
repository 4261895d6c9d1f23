"""The `plan` command's pipeline: render every stack's plan, then judge each with the policy pack.

It sits above both the plan renderer and the policy harness, so that neither imports the other:
the data flows one way, catalog -> plan -> policy verdicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from webex_cloud.config.errors import CatalogError
from webex_cloud.config.loader import known_stacks
from webex_cloud.paths import PACK_DIR, PROJECT_DIR
from webex_cloud.plan.document import render_plan
from webex_cloud.policy_check.analyzer import PackError
from webex_cloud.policy_check.check import PolicyChecker, format_run
from webex_cloud.policy_check.config import PolicyConfigError

CHECK_ERRORS: Final = (CatalogError, PackError, PolicyConfigError)
"""What :func:`check_plans` raises for unusable input or an unusable pack, each with a printable message."""


def check_plans(
    plans: Mapping[str, Mapping[str, Any]], project_dir: Path = PROJECT_DIR, pack_dir: Path = PACK_DIR
) -> tuple[str, bool]:
    """Verdicts for every plan in ``plans`` (stack -> plan), each checked against the other stacks.

    The other stacks' plans come from ``plans`` or, for stacks not in it, are rendered here, so
    the cross-datacenter policy always compares against every datacenter. Returns the report text
    and whether every stack passed (no mandatory violation). One pack process serves all stacks.
    Raises one of :data:`CHECK_ERRORS`.
    """
    everything = {
        stack: plans.get(stack) or render_plan(stack, project_dir=project_dir)
        for stack in sorted({*plans, *known_stacks(project_dir)})
    }
    reports, passed = [], True
    with PolicyChecker(pack_dir) as checker:
        for stack in sorted(plans):
            peers = {name: other for name, other in everything.items() if name != stack}
            result = checker.check(everything[stack], peers)
            reports.append(format_run(result))
            passed = passed and result.passed
    return "\n\n".join(reports), passed
