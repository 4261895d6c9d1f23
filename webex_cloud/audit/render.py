"""The audit report as text (for people and logs) and as JSON (for alerting); both list every UUID."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any, Final

from webex_cloud.audit.compare import Report

FORMAT: Final = "webex-cloud.audit/v1"


def to_json(report: Report, source: dict[str, str]) -> str:
    document: dict[str, Any] = {
        "format": FORMAT,
        "stack": report.stack,
        "source": source,
        "clean": report.clean,
        "checked": report.checked,
        "findings": [asdict(f) for f in report.findings],
        "could_not_check": [{**asdict(limit), "message": str(limit)} for limit in report.limitations],
        "pods": [asdict(p) for p in report.pods],
        "replicas": [asdict(r) for r in report.replicas],
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def to_text(report: Report, source: dict[str, str]) -> str:
    checked = report.checked
    lines = [
        f"audit of stack {report.stack} (cloud {source.get('cloud', '?')}, "
        f"project {source.get('project') or '?'}, plan {source.get('plan', '?')})",
        f"  read {checked.get('servers_read', 0)} servers and {checked.get('volumes_read', 0)} volumes; "
        f"the catalog expects {checked.get('instances', 0)} instances in {checked.get('pods', 0)} pods and "
        f"{checked.get('volumes', 0)} replicas in {checked.get('volume_groups', 0)} volume groups",
    ]
    for pod in report.pods:
        where = "; ".join(f"{h} ({len(ids)})" for h, ids in pod.members.items()) or "-"
        lines.append(f"  pod {pod.name}: {where}")
    for replica in report.replicas:
        lines.append(
            f"  replica {replica.name} {replica.uuid}: {replica.domain or 'failure domain not visible'}"
        )
    lines += [f"note: {limit}" for limit in report.limitations]
    lines += [f"VIOLATION {f.kind}: {f.message}" for f in report.findings]
    if report.clean:
        lines.append(f"stack {report.stack}: clean (every check this role may run passed)")
    else:
        lines.append(f"stack {report.stack}: {len(report.findings)} violations")
    return "\n".join(lines) + "\n"
