"""The live facts Prometheus cannot see, as metrics: the live audit's and drift's verdicts in the text format.

Prometheus sees whether instances answer; it cannot see where they are. The live audit
(``webex_cloud/audit``, read through ``webex_cloud/cloud`` as the stack's read-only identity) can: pods split
over hosts, two pods of a service on one host (a host loss takes both), two replicas of a volume group in
one failure domain. ``python -m webex_cloud monitoring --stack dc1 --facts FILE`` runs it once and writes
this exposition atomically, for node_exporter's textfile collector on the monitoring nodes to serve
(``--push-nodes`` hands it to them: the facts job, .github/workflows/monitoring-facts.yml, does every 10
minutes; facts_push.py); the rules alert on it, and on its age.

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

And the live facts drift judges, by drift's own code (webex_cloud/drift), so the alert and the deploy's
drift gate never disagree about the same cloud:

- ``webex_service_n_plus_one{datacenter, service, owner}``: 1 while the service still absorbs one more
  host (or failure domain) loss with the hosts Nova reports down or disabled out of band left out of the
  plan's inventory (drift/hosts.py ``n_plus_one``, on the loader's one N+1 rule); 0 when those hosts
  broke it. A rule broken datacenter-wide (a zone without its largest host cannot hold its pods) is 0
  for every service. Not written when the identity may not list the compute services (unchecked);
- ``webex_compute_hosts_unavailable{datacenter}``: how many of the stack's hosts that is;
- ``webex_controller_filters_loaded{datacenter, controller, owner, scheduler}`` and
  ``webex_controller_filter_release{datacenter, controller, owner, release, deployed}``: each
  controller read over SSH and judged against the checkpoint's rollout (drift/controllers.py
  ``classify``): a scheduler stopped or started before its fragment was written is 0; a release or a
  fragment other than the deployed one is 0. Written only when the controllers were read; a controller
  that could not be read is ``unchecked``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from webex_cloud.audit.compare import Report, owned
from webex_cloud.cloud.views import NO_VALID_HOST, ComputeService, Server
from webex_cloud.config.capacity import pods_in_zone
from webex_cloud.config.models import Datacenter, Service
from webex_cloud.drift.controllers import FILTER_NOT_LOADED, FILTER_RELEASE, FRAGMENT_EDITED, Judged
from webex_cloud.drift.hosts import broken_zone, n_plus_one, unavailable
from webex_cloud.facts.invariants import POD_SPLIT, PODS_SHARE_HOST, REPLICAS_SHARE_DOMAIN
from webex_cloud.monitoring import contract as c
from webex_cloud.monitoring.model import StackWatch
from webex_cloud.plan.format import Plan
from webex_cloud.tags import SERVICE_KEY

KINDS = (POD_SPLIT, PODS_SHARE_HOST, REPLICAS_SHARE_DOMAIN)
"""The findings written as metrics (every one a placement rule the scheduler filters enforce)."""


NO_RELEASE = "none"
"""The ``release`` of a controller whose current.json records none."""


@dataclass(frozen=True)
class Live:
    """The facts drift judges, for one run: None where they were not read."""

    n_plus_one: Mapping[str, bool] | None = None
    """Service -> whether it still absorbs one more loss without the unavailable hosts."""
    unavailable_hosts: int = 0
    controllers: Mapping[str, Judged] | None = None
    unchecked: tuple[str, ...] = ()
    """What could not be read (a controller, the compute services), besides the audit's limitations."""


def live_n_plus_one(
    plan: Plan,
    catalog: Iterable[tuple[str, Service]],
    compute: Sequence[ComputeService] | None,
    hosts: Sequence[str],
    refused: str = "",
) -> Live:
    """N+1 per service of the plan with the hosts Nova reports unavailable out of band left out, as
    drift judges it (drift/hosts.py); ``compute`` None: the identity may not list them (``refused``)."""
    if compute is None:
        return Live(unchecked=(f"compute hosts and N+1 without them ({refused})",))
    down, _ = unavailable(compute, hosts)
    catalog = list(catalog)
    try:
        broken = n_plus_one(plan, catalog, down)
    except ValidationError as error:
        return Live(
            unchecked=(f"N+1: the plan's datacenter does not validate ({error.error_count()} errors)",)
        )
    dc = Datacenter.model_validate(plan.datacenter.model_dump(mode="json", by_alias=True))
    labels = {label for label, _ in catalog}
    hit: set[str] = set()
    for drift in broken:
        # A service's own rule names its catalog file; a zone's capacity (the stack's rule) names the
        # zone, and breaks every service with a pod there.
        zone = "" if drift.name in labels else broken_zone(drift)
        hit |= {
            service.name
            for label, service in catalog
            if label == drift.name or (zone and pods_in_zone(service, dc, zone))
        }
    return Live(
        n_plus_one={name: name not in hit for name in plan.services},
        unavailable_hosts=len(down),
    )


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


def exposition(
    watch: StackWatch, report: Report, servers: Sequence[Server], read_at: float, live: Live = Live()
) -> str:
    """The Prometheus text exposition of one audit of the stack, of the servers it read and of the
    facts drift judges (``live``)."""
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
    for check in [*(limitation.check for limitation in report.limitations), *live.unchecked]:
        lines.append(f"{c.PLACEMENT_UNCHECKED}{_value({c.LABEL_DATACENTER: dc, 'check': check})} 1")
    lines += [
        f"# HELP {c.NO_VALID_HOST_SERVERS} Servers in ERROR because Nova found no valid host for them.",
        f"# TYPE {c.NO_VALID_HOST_SERVERS} gauge",
    ]
    owners = {service.service: service.owner for service in watch.services}
    for name, count in no_valid_host(watch, servers).items():
        labels = {c.LABEL_DATACENTER: dc, c.LABEL_SERVICE: name, c.LABEL_OWNER: owners[name]}
        lines.append(f"{c.NO_VALID_HOST_SERVERS}{_value(labels)} {count}")
    lines += _live_lines(watch, live)
    lines += [
        f"# HELP {c.PLACEMENT_CHECKED_AT} When the live audit last read the cloud (Unix seconds).",
        f"# TYPE {c.PLACEMENT_CHECKED_AT} gauge",
        f"{c.PLACEMENT_CHECKED_AT}{_value({c.LABEL_DATACENTER: dc})} {read_at:.3f}",
    ]
    return "\n".join(lines) + "\n"


def _live_lines(watch: StackWatch, live: Live) -> list[str]:
    dc = watch.datacenter
    lines: list[str] = []
    if live.n_plus_one is not None:
        lines += [
            f"# HELP {c.SERVICE_N_PLUS_ONE} 1 while the service absorbs one more loss without the "
            "unavailable hosts.",
            f"# TYPE {c.SERVICE_N_PLUS_ONE} gauge",
        ]
        for service in watch.services:
            if service.service in live.n_plus_one:
                labels = {
                    c.LABEL_DATACENTER: dc,
                    c.LABEL_SERVICE: service.service,
                    c.LABEL_OWNER: service.owner,
                }
                lines.append(
                    f"{c.SERVICE_N_PLUS_ONE}{_value(labels)} {int(live.n_plus_one[service.service])}"
                )
        lines += [
            f"# HELP {c.HOSTS_UNAVAILABLE} Stack hosts Nova reports down or disabled out of band.",
            f"# TYPE {c.HOSTS_UNAVAILABLE} gauge",
            f"{c.HOSTS_UNAVAILABLE}{_value({c.LABEL_DATACENTER: dc})} {live.unavailable_hosts}",
        ]
    if live.controllers is None:
        return lines
    loaded = [
        f"# HELP {c.CONTROLLER_FILTERS_LOADED} 1 while the scheduler runs the filters on disk.",
        f"# TYPE {c.CONTROLLER_FILTERS_LOADED} gauge",
    ]
    release = [
        f"# HELP {c.CONTROLLER_FILTER_RELEASE} 1 when the controller runs the filter release the stack "
        "deployed.",
        f"# TYPE {c.CONTROLLER_FILTER_RELEASE} gauge",
    ]
    for host, judged in sorted(live.controllers.items()):
        where = {c.LABEL_DATACENTER: dc, c.LABEL_CONTROLLER: host, c.LABEL_OWNER: watch.platform_owner}
        for fragment, scheduler in sorted(judged.state.services.items()):
            stopped = any(
                d.kind == FILTER_NOT_LOADED and d.field.startswith(f"{scheduler.unit}.") for d in judged.drift
            )
            labels = {**where, c.LABEL_SCHEDULER: fragment}
            loaded.append(f"{c.CONTROLLER_FILTERS_LOADED}{_value(labels)} {int(not stopped)}")
        current = judged.state.current
        recorded = current.get("wheel_sha256") if current is not None else None
        labels = {
            **where,
            c.LABEL_RELEASE: str(recorded) if recorded else NO_RELEASE,
            c.LABEL_DEPLOYED: judged.rollout.fingerprint["wheel_sha256"],
        }
        other = any(d.kind in (FILTER_RELEASE, FRAGMENT_EDITED) for d in judged.drift)
        release.append(f"{c.CONTROLLER_FILTER_RELEASE}{_value(labels)} {int(not other)}")
    return [*lines, *loaded, *release]
