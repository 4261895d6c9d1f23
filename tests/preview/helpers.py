"""Shared builders for the preview tests: plans of this project, and reports from them."""

from __future__ import annotations

import copy
import stat
import sys
from functools import cache
from pathlib import Path
from typing import Any

from tests.conftest import REPO, ProjectCopy
from webex_cloud.change.model import ChangeSet
from webex_cloud.plan.document import render_plan
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


STACK_URN = "urn:pulumi:dc1::webex-cloud::pulumi:pulumi:Stack::webex-cloud-dc1"
PORT_URN = (
    "urn:pulumi:dc1::webex-cloud::webex:datacenter:Datacenter$webex:service:Service$webex:compute:Pod$"
    "openstack:networking/port:Port::messaging-pod-0-app-0-port"
)
#: A preview digest in which nothing changes: all a mandatory violation leaves in `--json`.
CLEAN_DIGEST: dict[str, Any] = {
    "steps": [
        {"op": "same", "urn": STACK_URN, "newState": {"type": "pulumi:pulumi:Stack", "urn": STACK_URN}}
    ],
    "changeSummary": {"same": 1},
}
#: The engine event that says why such a preview exited 255 (sdk/go/common/apitype/events.go PolicyEvent).
MANDATORY_VIOLATION: list[dict[str, Any]] = [
    {
        "sequence": 4,
        "timestamp": 1764583202,
        "policyEvent": {
            "resourceUrn": PORT_URN,
            "message": "Port admits 0.0.0.0/0 on an admin port.",
            "color": "never",
            "policyName": "no-public-admin-ports",
            "policyPackName": "webex-policies",
            "policyPackVersion": "0.1.0",
            "policyPackVersionTag": "0.1.0",
            "enforcementLevel": "mandatory",
        },
    }
]


def fake_pulumi(folder: Path, digest: dict[str, Any], events: list[dict[str, Any]], code: int) -> Path:
    """A `pulumi` on PATH that answers `preview` as the real CLI does: the JSON digest on stdout
    (pkg/display/json.go PreviewDigest), one apitype.EngineEvent per line in the --event-log file
    (pkg/backend/display/display.go startEventLogger), a message on stderr and its exit status."""
    folder.mkdir()
    script = folder / "pulumi"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "args = sys.argv[1:]\n"
        "assert args[0] == 'preview' and '--policy-pack-config' in args, args\n"
        "assert os.environ.get('PULUMI_DEBUG_COMMANDS') == 'true'  # --event-log exists only then\n"
        "with open(args[args.index('--event-log') + 1], 'w') as log:\n"
        f"    for event in {events!r}:\n"
        "        log.write(json.dumps(event) + '\\n')\n"
        f"print(json.dumps({digest!r}, indent=4))\n"
        "print('error: preview failed', file=sys.stderr)\n"
        f"sys.exit({code})\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return folder
