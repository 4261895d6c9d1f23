"""Render several stacks' plans in worker processes, one per core: stacks are independent.

Each stack is rendered by the same ``render_plan`` as in one process (the program under the SDK's
mock engine, in a fresh Pulumi runtime state), and each plan depends only on the project's files:
IDs are derived from URNs, lists are sorted. So the plans, and the files written from them, are the
same whichever worker rendered which stack and in what order they finished.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from webex_cloud.cli_common import usable_cores
from webex_cloud.config.errors import CatalogError, Problem
from webex_cloud.plan.document import render_plan

_Result = tuple[dict[str, Any] | None, list[Problem]]


def default_jobs(stacks: int) -> int:
    """One worker per core the process may use, never more than there are stacks."""
    return max(1, min(usable_cores(), stacks))


def _render(stack: str, project_dir: Path) -> _Result:
    # CatalogError does not survive pickling (its constructor takes the problems, not the message):
    # the problems travel instead and are raised again in the parent.
    try:
        return render_plan(stack, project_dir=project_dir), []
    except CatalogError as error:
        return None, error.problems


def render_plans(
    stacks: Sequence[str], project_dir: Path, jobs: int | None = None
) -> tuple[dict[str, dict[str, Any]], dict[str, CatalogError]]:
    """Stack -> plan for every valid stack and stack -> its problems for every other one, rendered by
    ``jobs`` processes (default: one per core; with one job or one stack, in this process)."""
    workers = jobs or default_jobs(len(stacks))
    if workers <= 1 or len(stacks) <= 1:
        results = [_render(stack, project_dir) for stack in stacks]
    else:
        # spawn, not fork: a forked child would inherit this process's Pulumi runtime state.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            results = list(pool.map(_render, stacks, [project_dir] * len(stacks)))
    plans = {stack: plan for stack, (plan, _) in zip(stacks, results, strict=True) if plan is not None}
    errors = {stack: CatalogError(found) for stack, (_, found) in zip(stacks, results, strict=True) if found}
    return plans, errors
