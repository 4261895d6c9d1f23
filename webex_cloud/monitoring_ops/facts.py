"""The placement facts Prometheus cannot see, as metrics: the live audit's verdict in the text format.

Prometheus sees whether instances answer; it cannot see where they are. The live audit
(``webex_cloud/audit``, read through ``webex_cloud/cloud`` as the stack's read-only identity) can: pods split
over hosts, two pods of a service on one host (a host loss takes both), two replicas of a volume group in
one failure domain. ``python -m webex_cloud monitoring --stack dc1 --facts FILE`` runs it once and writes
this exposition atomically, for node_exporter's textfile collector on the monitoring nodes to serve
(run it every few minutes from a timer); the rules alert on it, and on its age.

Contract (read by the rules here and by releases judged by metrics; names in ``contract.py``):

- ``webex_placement_findings{datacenter, service, owner, kind}``: findings of that kind now; every
  service and kind is written, 0 included, so a missing series means a missing check, not a clean one;
- ``webex_placement_unchecked{datacenter, check}``: 1 for what the identity may not see (then the
  findings that need it are unknown, not 0);
- ``webex_placement_last_check_timestamp_seconds{datacenter}``: when the audit read the cloud;
- ``webex_servers_no_valid_host{datacenter, service, owner}``: the service's servers in ERROR whose Nova
  fault is "No valid host was found" (``cloud/views.py``, ``NO_VALID_HOST``): every host was filtered out
  of their boot, by our filters or Nova's own. Nova names no filter in the fault (the scheduler logs
  which one emptied the list), so this is the symptom the filters cause when they reject every host for a
  pod. Every service is written, 0 included.
"""

from __future__ import annotations

from collections.abc import Sequence

from webex_cloud.audit.compare import Report, owned
from webex_cloud.cloud.views import NO_VALID_HOST, Server
from webex_cloud.facts.invariants import POD_SPLIT, PODS_SHARE_HOST, REPLICAS_SHARE_DOMAIN
from webex_cloud.monitoring import contract as c
from webex_cloud.monitoring.model import StackWatch
from webex_cloud.tags import SERVICE_KEY

KINDS = (POD_SPLIT, PODS_SHARE_HOST, REPLICAS_SHARE_DOMAIN)
"""The findings written as metrics (every one a placement rule the scheduler filters enforce)."""


def _escaped(value: str) -> str:
    """A label value in the text format: backslash, double quote and line feed escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _value(labels: dict[str, str]) -> str:
    return "{" + ",".join(f'{key}="{_escaped(value)}"' for key, value in labels.items()) + "}"


def no_valid_host(watch: StackWatch, servers: Sequence[Server]) -> dict[str, int]:
    """Per service of the stack: its servers Nova left in ERROR because no host passed the filters."""
    counts = {service.service: 0 for service in watch.services}
    for server in servers:
        if (
            owned(server.metadata, watch.datacenter)
            and server.status == "ERROR"
            and server.fault.startswith(NO_VALID_HOST)
            and server.metadata[SERVICE_KEY] in counts
        ):
            counts[server.metadata[SERVICE_KEY]] += 1
    return counts


def exposition(watch: StackWatch, report: Report, servers: Sequence[Server], read_at: float) -> str:
    """The Prometheus text exposition of one audit of the stack and of the servers it read."""
    dc = watch.datacenter
    counts: dict[tuple[str, str], int] = {}
    for finding in report.findings:
        if finding.kind in KINDS:
            counts[(finding.service, finding.kind)] = counts.get((finding.service, finding.kind), 0) + 1
    lines = [
        f"# HELP {c.PLACEMENT_FINDINGS} Placement rules the live audit finds broken, per service and kind.",
        f"# TYPE {c.PLACEMENT_FINDINGS} gauge",
    ]
    for service in watch.services:
        for kind in KINDS:
            labels = {
                c.LABEL_DATACENTER: dc,
                c.LABEL_SERVICE: service.service,
                c.LABEL_OWNER: service.owner,
                "kind": kind,
            }
            lines.append(f"{c.PLACEMENT_FINDINGS}{_value(labels)} {counts.get((service.service, kind), 0)}")
    lines += [
        f"# HELP {c.PLACEMENT_UNCHECKED} 1 for what the audit's identity may not see.",
        f"# TYPE {c.PLACEMENT_UNCHECKED} gauge",
    ]
    for limitation in report.limitations:
        lines.append(
            f"{c.PLACEMENT_UNCHECKED}{_value({c.LABEL_DATACENTER: dc, 'check': limitation.check})} 1"
        )
    lines += [
        f"# HELP {c.NO_VALID_HOST_SERVERS} Servers in ERROR because Nova found no valid host for them.",
        f"# TYPE {c.NO_VALID_HOST_SERVERS} gauge",
    ]
    owners = {service.service: service.owner for service in watch.services}
    for name, count in no_valid_host(watch, servers).items():
        labels = {c.LABEL_DATACENTER: dc, c.LABEL_SERVICE: name, c.LABEL_OWNER: owners[name]}
        lines.append(f"{c.NO_VALID_HOST_SERVERS}{_value(labels)} {count}")
    lines += [
        f"# HELP {c.PLACEMENT_CHECKED_AT} When the live audit last read the cloud (Unix seconds).",
        f"# TYPE {c.PLACEMENT_CHECKED_AT} gauge",
        f"{c.PLACEMENT_CHECKED_AT}{_value({c.LABEL_DATACENTER: dc})} {read_at:.3f}",
    ]
    return "\n".join(lines) + "\n"
