"""Shared builders for the preview tests: plans of this project, and reports from them."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from tests.conftest import REPO, ProjectCopy
from webex_cloud.plan.document import render_plan
from webex_cloud.preview.model import ChangeSet
from webex_cloud.preview.offline import diff_snapshots
from webex_cloud.preview.plans import snapshot_from_plan
from webex_cloud.preview.render import Report
from webex_cloud.preview.risks import rank

VOLUME = "openstack:blockstorage/volume:Volume"
INSTANCE = "openstack:compute/instance:Instance"
RULE = "openstack:networking/secGroupRule:SecGroupRule"


@cache
def _base_plan(stack: str) -> dict[str, Any]:
    return render_plan(stack, project_dir=REPO)


def base_plan(stack: str = "dc1") -> dict[str, Any]:
    """The checked-in project's plan (a private copy: tests edit it)."""
    return copy.deepcopy(_base_plan(stack))


def pr_plan(project: ProjectCopy, stack: str = "dc1") -> dict[str, Any]:
    return render_plan(stack, project_dir=project.root)


def report(base: dict[str, Any], pr: dict[str, Any]) -> Report:
    changes = diff_snapshots(
        snapshot_from_plan(base, source="base.json"), snapshot_from_plan(pr, source="pr.json")
    )
    return Report(changes=changes, risks=tuple(rank(changes)))


def report_of(changes: ChangeSet) -> Report:
    return Report(changes=changes, risks=tuple(rank(changes)))


def resource(plan: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in plan["resources"] if r["name"] == name)
