"""The audit's picture: where the pods and replicas are, in the layout of the placement picture."""

from __future__ import annotations

from webex_cloud.audit.compare import Report
from webex_cloud.audit.expected import Expected
from webex_cloud.facts.invariants import UNEXPECTED_INSTANCE, UNEXPECTED_VOLUME, Finding
from webex_cloud.picture import Mark, Picture, columns


def _violating(findings: list[Finding], item: str, where: str) -> list[Finding]:
    return [f for f in findings if item in f.items and (not f.where or where in f.where)]


def _mark(
    label: str, service: str, kind: str, where: str, uuids: tuple[str, ...], findings: list[Finding]
) -> Mark:
    bad = _violating(findings, label, where)
    detail = "\n".join([f"{label} on {where}: {', '.join(uuids)}", *(f.message for f in bad)])
    return Mark(label, service, kind, bool(bad), detail)


def audit_picture(expected: Expected, report: Report, host_names_visible: bool) -> Picture:
    hosts: dict[str, list[Mark]] = {}
    for pod in report.pods:
        for where, uuids in pod.members.items():
            hosts.setdefault(where, []).append(
                _mark(pod.name, pod.service, "pod", where, uuids, report.findings)
            )
    domains: dict[str, list[Mark]] = {}
    for replica in report.replicas:
        if replica.domain is not None:
            domains.setdefault(replica.domain, []).append(
                _mark(
                    replica.name, replica.service, "replica", replica.domain, (replica.uuid,), report.findings
                )
            )
    strays = {UNEXPECTED_INSTANCE: ("instance", hosts), UNEXPECTED_VOLUME: ("volume", domains)}
    for finding in report.findings:
        if finding.kind in strays and finding.where:
            kind, target = strays[finding.kind]
            target.setdefault(finding.where[0], []).append(
                Mark(finding.items[0], finding.service or "?", kind, True, finding.message)
            )
    notes = [(str(limit), False) for limit in report.limitations]
    notes += [(f.message, True) for f in report.findings if not f.where]
    verdict = "clean" if report.clean else f"{len(report.findings)} violations"
    return Picture(
        f"stack {expected.stack}: where things are (audit: {verdict})",
        columns(expected.hosts if host_names_visible else (), hosts),
        columns(expected.failure_domains, domains),
        tuple(notes),
    )
