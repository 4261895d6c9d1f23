"""The recording and alerting rules of one stack, each alert with the synthetic series that fire it and
the series that must not: the rules and their promtool unit tests come from the same definition.

Symptom first (the Google SRE workbook's practice): the alerts are about instances not answering the
health check users depend on, judged per pod and per service against the release floor the catalog
declares, never about a process or a CPU. Every alert carries ``owner`` (routing), ``severity`` and a
``runbook_url`` into docs/monitoring.md.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from webex_cloud.facts import metrics
from webex_cloud.facts.invariants import POD_SPLIT, PODS_SHARE_HOST, REPLICAS_SHARE_DOMAIN
from webex_cloud.monitoring import contract as c
from webex_cloud.monitoring.model import AppEndpoint, ServiceWatch, StackWatch, duration

PROBE_JOBS = f'job=~"{metrics.PROBE_JOB_PREFIX}.+"'
SELF_JOBS = f'job=~"{c.PROMETHEUS_JOB}|{c.ALERTMANAGER_JOB}|{c.BLACKBOX_JOB}|{c.FACTS_JOB}"'
TEST_INTERVAL = "1m"
"""Step of the synthetic series of the unit tests."""


@dataclass(frozen=True)
class Case:
    """Synthetic series and what the alert does on them at ``eval_time``."""

    series: tuple[tuple[str, str], ...]
    """(series selector with labels, promtool values such as ``1x5 0x10``)."""
    eval_time: str
    fires: tuple[Mapping[str, str], ...]
    """The labels of each alert expected to fire (without alertname); empty: nothing fires."""


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    for_: str
    severity: str
    summary: str
    """May use ``{{ $labels.<name> }}``."""
    labels: Mapping[str, str] = field(default_factory=dict)
    cases: tuple[Case, ...] = ()


@dataclass(frozen=True)
class Recording:
    record: str
    expr: str


@dataclass(frozen=True)
class RuleGroup:
    name: str
    file: str
    """File name under rules/ (``<name>.rules.yml``); its unit tests go beside it."""
    recordings: tuple[Recording, ...] = ()
    alerts: tuple[Alert, ...] = ()


def selector(metric: str, labels: Mapping[str, str]) -> str:
    inner = ", ".join(f'{key}="{value}"' for key, value in labels.items())
    return f"{metric}{{{inner}}}"


def runbook_url(base: str, alert: str) -> str:
    return f"{base.rstrip('/')}/monitoring.md#{alert.lower()}"


_LABEL_REF = re.compile(r"\{\{ \$labels\.([a-z_]+) \}\}")


def render_summary(summary: str, labels: Mapping[str, str]) -> str:
    """What Prometheus renders for ``{{ $labels.x }}`` (the only template the summaries use)."""
    return _LABEL_REF.sub(lambda match: labels.get(match.group(1), ""), summary)


def alert_annotations(alert: Alert, base: str, labels: Mapping[str, str]) -> dict[str, str]:
    return {"summary": render_summary(alert.summary, labels), "runbook_url": runbook_url(base, alert.name)}


def recordings() -> tuple[Recording, ...]:
    by_service = f"{c.LABEL_DATACENTER}, {c.LABEL_SERVICE}, {c.LABEL_OWNER}"
    return (
        Recording(
            c.POD_SERVING, f"min by ({by_service}, {c.LABEL_POD}) ({metrics.PROBE_SUCCESS}{{{PROBE_JOBS}}})"
        ),
        Recording(c.SERVICE_PODS_SERVING, f"sum by ({by_service}) ({c.POD_SERVING})"),
        Recording(c.INSTANCES_DISCOVERED, f"count by ({by_service}) (up{{{PROBE_JOBS}}})"),
    )


def _instance_labels(dc: str, service: ServiceWatch, pod: str, role: str, index: int) -> dict[str, str]:
    return {
        "job": metrics.probe_job(service.service, role),
        metrics.LABEL_INSTANCE: f"{dc}-{pod}-{role}-{index}",
        c.LABEL_DATACENTER: dc,
        c.LABEL_SERVICE: service.service,
        c.LABEL_OWNER: service.owner,
        c.LABEL_POD: pod,
        c.LABEL_ROLE: role,
    }


def _probe_series(
    dc: str,
    service: ServiceWatch,
    failing: Mapping[str, str],
    healthy: str = "1x30",
    first_only: bool = False,
) -> tuple[tuple[str, str], ...]:
    """probe_success and up of every instance of the service: the instances of the pods in ``failing``
    (or only the first instance of each, ``first_only``) get those values."""
    series: list[tuple[str, str]] = []
    for pod in service.pods:
        first = True
        for role in service.roles:
            per_pod = role.instances // len(service.pods)
            for index in range(per_pod):
                labels = _instance_labels(dc, service, pod, role.role, index)
                fails = pod in failing and (first or not first_only)
                series.append((selector(metrics.PROBE_SUCCESS, labels), failing[pod] if fails else healthy))
                first = False
                series.append((selector("up", labels), "1x30"))
    return tuple(series)


DOWN_AT_MINUTE = 4
"""The synthetic series of the unit tests fail from this minute on (``1x3`` then zeros)."""


def down_for(for_s: int) -> tuple[str, str]:
    """(values, eval_time) of a series failing from minute 4 for good, evaluated once its alert with
    ``for_s`` has fired: the unit tests evaluate every minute, so it fires at the first minute that is
    ``for_s`` after the first failure."""
    return "1x3 0x27", f"{max(10, DOWN_AT_MINUTE + math.ceil(for_s / 60) + 1)}m"


def blip_under(for_s: int) -> str:
    """Values failing from minute 4 for fewer minutes than ``for_s`` spans at one-minute evaluations:
    the alert goes pending and never fires."""
    minutes = max(1, math.ceil(for_s / 60) - 1)
    return f"1x3 {' '.join(['0'] * minutes)} 1x{27 - minutes}"


def service_alerts(watch: StackWatch, service: ServiceWatch) -> tuple[Alert, ...]:
    dc = watch.datacenter
    scope = {c.LABEL_DATACENTER: dc, c.LABEL_SERVICE: service.service}
    labels = {**scope, c.LABEL_OWNER: service.owner}
    serving = f"(sum({selector(c.POD_SERVING, scope)}) or vector(0))"
    pods = len(service.pods)
    below_floor_s = watch.monitoring.timing.below_floor_s
    down, paged_at = down_for(below_floor_s)
    below = {pod: down for pod in service.pods[: pods - service.floor + 1]}
    at_floor = {pod: down for pod in service.pods[: pods - service.floor]}
    healthy = _probe_series(dc, service, {})
    missing_one = tuple(
        item for item in healthy if f'{metrics.LABEL_INSTANCE}="{dc}-{service.pods[-1]}-' not in item[0]
    )
    alerts = [
        Alert(
            name=c.SERVICE_BELOW_FLOOR,
            expr=f"{serving} < {service.floor}",
            for_=duration(below_floor_s),
            severity=c.SEVERITY_PAGE,
            summary=(
                f"{service.service} in {dc}: fewer than {service.floor} of {pods} pods serve "
                "(its release floor)"
            ),
            labels=labels,
            cases=(
                Case(_probe_series(dc, service, below), paged_at, (labels,)),
                Case(_probe_series(dc, service, at_floor), paged_at, ()),
                # Nothing discovered at all is no pod serving, not silence.
                Case((), paged_at, (labels,)),
            ),
        ),
        Alert(
            name=c.INSTANCES_MISSING,
            expr=f"(sum({selector(c.INSTANCES_DISCOVERED, scope)}) or vector(0)) < {service.instances}",
            for_="10m",
            severity=c.SEVERITY_TICKET,
            summary=(
                f"{service.service} in {dc}: Prometheus finds fewer than the catalog's "
                f"{service.instances} instances through Nova"
            ),
            labels=labels,
            cases=(Case(missing_one, "20m", (labels,)), Case(healthy, "20m", ())),
        ),
    ]
    if service.metrics is not None:
        alerts.append(_app_metrics_alert(watch, service, service.metrics))
    if pods > service.floor:  # a single-pod service never has a spare: no alert that always fires
        alerts.append(
            Alert(
                name=c.SERVICE_NOT_N_PLUS_ONE,
                expr=f"{serving} <= {service.floor}",
                for_="10m",
                severity=c.SEVERITY_TICKET,
                summary=(
                    f"{service.service} in {dc}: only {service.floor} of {pods} pods serve; losing one more "
                    "host would take it below its release floor"
                ),
                labels=labels,
                cases=(
                    Case(_probe_series(dc, service, at_floor), "20m", (labels,)),
                    Case(healthy, "20m", ()),
                ),
            )
        )
    return tuple(alerts)


def _app_metrics_alert(watch: StackWatch, service: ServiceWatch, endpoint: AppEndpoint) -> Alert:
    """An instance whose own metrics cannot be scraped: no alarm for users, but a release of the service
    judged on those series would stop as "cannot judge" (docs/releasing.md)."""
    job = metrics.app_job(service.service)
    target = {
        **_instance_labels(watch.datacenter, service, service.pods[0], endpoint.roles[0], 0),
        "job": job,
    }
    return Alert(
        name=c.APP_METRICS_NOT_SCRAPED,
        expr=f'up{{job="{job}"}} == 0',
        for_="10m",
        severity=c.SEVERITY_TICKET,
        summary="{{ $labels.instance }} of {{ $labels.service }}: its metrics endpoint "
        f"(port {endpoint.port}, {endpoint.path}) does not answer the scrape",
        cases=(
            Case(((selector("up", target), "1 0x20"),), "15m", (target,)),
            Case(((selector("up", target), "1x20"),), "15m", ()),
        ),
    )


def pod_alert(watch: StackWatch) -> Alert:
    dc = watch.datacenter
    for_s = watch.monitoring.timing.pod_not_serving_s
    down, told_at = down_for(for_s)
    cases: list[Case] = []
    if watch.services:
        service = watch.services[0]
        pod = service.pods[0]
        fired = {c.LABEL_DATACENTER: dc, c.LABEL_SERVICE: service.service, c.LABEL_OWNER: service.owner}
        cases = [
            # One instance of the pod is enough.
            Case(
                _probe_series(dc, service, {pod: down}, first_only=True),
                told_at,
                ({**fired, c.LABEL_POD: pod},),
            ),
            # A blip shorter than the `for:` tells nobody.
            Case(_probe_series(dc, service, {pod: blip_under(for_s)}, first_only=True), told_at, ()),
        ]
    return Alert(
        name=c.POD_NOT_SERVING,
        expr=f"{c.POD_SERVING} == 0",
        for_=duration(for_s),
        severity=c.SEVERITY_TICKET,
        summary="{{ $labels.pod }} of {{ $labels.service }} in {{ $labels.datacenter }}: an instance does "
        "not answer its health check",
        cases=tuple(cases),
    )


def _probes_not_scraped_cases(watch: StackWatch) -> tuple[Case, ...]:
    if not watch.services:
        return ()
    service = watch.services[0]
    labels = _instance_labels(watch.datacenter, service, service.pods[0], service.roles[0].role, 0)
    fired = {c.LABEL_DATACENTER: watch.datacenter, "job": labels["job"], c.LABEL_OWNER: watch.platform_owner}
    return (
        Case(((selector("up", labels), "1 0x20"),), "10m", (fired,)),
        Case(((selector("up", labels), "1x20"),), "10m", ()),
    )


def _outage_cases(watch: StackWatch) -> tuple[Case, ...]:
    if not watch.services:
        return ()
    service = watch.services[0]
    everything = {pod: "1x3 0x27" for pod in service.pods}
    fired = {c.LABEL_DATACENTER: watch.datacenter, c.LABEL_OWNER: watch.platform_owner}
    # Fewer than half: exactly half is a float average Prometheus computes incrementally, in series
    # order (promql/engine.go, aggregation AVG), so it may land a rounding error either side of 0.5.
    half = {pod: "1x3 0x27" for pod in service.pods[: (len(service.pods) - 1) // 2]}
    return (
        Case(_probe_series(watch.datacenter, service, everything), "10m", (fired,)),
        # Some pods down is for the service's own alerts, not a datacenter outage.
        Case(_probe_series(watch.datacenter, service, half), "10m", ()),
    )


def platform_alerts(watch: StackWatch) -> tuple[Alert, ...]:
    dc = watch.datacenter
    platform = {c.LABEL_DATACENTER: dc, c.LABEL_OWNER: watch.platform_owner}
    node = str(watch.monitoring.nodes[0])
    alerts = [
        Alert(
            name=c.WATCHDOG,
            expr="vector(1)",
            for_="0m",
            severity=c.SEVERITY_NONE,
            summary=f"The monitoring of {dc} is alive (this alert always fires; its absence is the alarm)",
            labels=platform,
            cases=(Case((), "1m", (platform,)),),
        ),
        Alert(
            name=c.MONITORING_NODE_DOWN,
            expr=f"up{{{SELF_JOBS}}} == 0",
            for_="5m",
            severity=c.SEVERITY_TICKET,
            summary="{{ $labels.job }} on {{ $labels.instance }} does not answer its scrape",
            cases=(
                Case(
                    (
                        (
                            selector(
                                "up",
                                {"job": c.BLACKBOX_JOB, metrics.LABEL_INSTANCE: f"{node}:9115", **platform},
                            ),
                            "1 0x20",
                        ),
                    ),
                    "10m",
                    ({"job": c.BLACKBOX_JOB, metrics.LABEL_INSTANCE: f"{node}:9115", **platform},),
                ),
                Case(
                    (
                        (
                            selector(
                                "up",
                                {"job": c.BLACKBOX_JOB, metrics.LABEL_INSTANCE: f"{node}:9115", **platform},
                            ),
                            "1x20",
                        ),
                    ),
                    "10m",
                    (),
                ),
            ),
        ),
        Alert(
            name=c.PROBES_FAILING,
            expr=f"count by ({c.LABEL_DATACENTER}, job) (up{{{PROBE_JOBS}}} == 0) > 0",
            for_="5m",
            severity=c.SEVERITY_TICKET,
            summary="{{ $labels.job }}: the blackbox exporter does not answer, so its instances are "
            "not probed",
            labels={c.LABEL_OWNER: watch.platform_owner},
            cases=_probes_not_scraped_cases(watch),
        ),
        Alert(
            name=c.DATACENTER_OUTAGE,
            expr=f"avg by ({c.LABEL_DATACENTER}) ({metrics.PROBE_SUCCESS}{{{PROBE_JOBS}}}) < 0.5",
            for_="2m",
            severity=c.SEVERITY_PAGE,
            summary="{{ $labels.datacenter }}: most catalog instances fail their health check",
            labels={c.LABEL_OWNER: watch.platform_owner},
            cases=_outage_cases(watch),
        ),
    ]
    if watch.controllers:
        api = watch.controllers[0]
        port = str(api.ports[0])
        target = {
            "job": c.CONTROLLER_JOB,
            metrics.LABEL_INSTANCE: f"{api.address}:{port}",
            c.LABEL_DATACENTER: dc,
            c.LABEL_CONTROLLER: api.name,
            c.LABEL_OWNER: watch.platform_owner,
            c.LABEL_PORT: port,
        }
        alerts.append(
            Alert(
                name=c.CONTROLLER_API_DOWN,
                expr=f'{metrics.PROBE_SUCCESS}{{job="{c.CONTROLLER_JOB}"}} == 0',
                for_="3m",
                severity=c.SEVERITY_TICKET,
                summary="{{ $labels.controller }}: the API on port {{ $labels.port }} does not accept "
                "connections",
                cases=(
                    Case(((selector(metrics.PROBE_SUCCESS, target), "1 0x20"),), "10m", (target,)),
                    Case(((selector(metrics.PROBE_SUCCESS, target), "1x20"),), "10m", ()),
                ),
            )
        )
    return tuple(alerts)


def _findings_alert(watch: StackWatch, name: str, kind: str, summary: str) -> Alert:
    labels = f'kind="{kind}"'
    cases: list[Case] = []
    if watch.services:
        service = watch.services[0]
        fired = {
            c.LABEL_DATACENTER: watch.datacenter,
            c.LABEL_SERVICE: service.service,
            c.LABEL_OWNER: service.owner,
        }
        series = selector(
            c.PLACEMENT_FINDINGS,
            {
                "job": c.FACTS_JOB,
                metrics.LABEL_INSTANCE: f"{watch.monitoring.nodes[0]}:{c.NODE_EXPORTER_PORT}",
                **fired,
                "kind": kind,
            },
        )
        cases = [Case(((series, "0 1x30"),), "20m", (fired,)), Case(((series, "0x30"),), "20m", ())]
    return Alert(
        name=name,
        expr=f"max by ({c.LABEL_DATACENTER}, {c.LABEL_SERVICE}, {c.LABEL_OWNER}) "
        f"({c.PLACEMENT_FINDINGS}{{{labels}}}) > 0",
        for_="15m",
        severity=c.SEVERITY_TICKET,
        summary=summary,
        cases=tuple(cases),
    )


def placement_alerts(watch: StackWatch) -> tuple[Alert, ...]:
    """Alerts on the live audit's facts (monitoring_ops/facts.py), and on the facts going stale."""
    dc = watch.datacenter
    checked = selector(c.PLACEMENT_CHECKED_AT, {c.LABEL_DATACENTER: dc})
    platform = {c.LABEL_DATACENTER: dc, c.LABEL_OWNER: watch.platform_owner}
    stamp = selector(
        c.PLACEMENT_CHECKED_AT,
        {
            "job": c.FACTS_JOB,
            metrics.LABEL_INSTANCE: f"{watch.monitoring.nodes[0]}:{c.NODE_EXPORTER_PORT}",
            **platform,
        },
    )
    stale = c.FACTS_MAX_AGE_S // 60
    return (
        _findings_alert(
            watch,
            c.PODS_SHARE_HOST_ALERT,
            PODS_SHARE_HOST,
            "{{ $labels.service }} in {{ $labels.datacenter }}: two pods share a compute host, so one host "
            "loss takes both",
        ),
        _findings_alert(
            watch,
            c.REPLICAS_SHARE_DOMAIN_ALERT,
            REPLICAS_SHARE_DOMAIN,
            "{{ $labels.service }} in {{ $labels.datacenter }}: two replicas of a volume group share a "
            "storage failure domain",
        ),
        _findings_alert(
            watch,
            c.POD_SPLIT_ALERT,
            POD_SPLIT,
            "{{ $labels.service }} in {{ $labels.datacenter }}: a pod's instances are on different hosts",
        ),
        Alert(
            name=c.PLACEMENT_FACTS_STALE,
            expr=f"(time() - max by ({c.LABEL_DATACENTER}) ({checked})) > {c.FACTS_MAX_AGE_S} "
            f"or absent({checked})",
            for_="5m",
            severity=c.SEVERITY_TICKET,
            summary=f"{dc}: the live placement audit has not written its facts for "
            f"{stale} minutes: where pods and replicas are is not watched",
            labels={c.LABEL_OWNER: watch.platform_owner},
            cases=(
                # Written once at 0, then never again: stale after FACTS_MAX_AGE_S, alerting 5 minutes later.
                Case(((stamp, f"0x{stale + 10}"),), f"{stale + 10}m", (platform,)),
                Case((), "10m", (platform,)),
                Case(((stamp, f"0+60x{stale + 10}"),), f"{stale + 10}m", ()),
                # A run late by less than the limit is not an alert: written at 0 and again at 25m.
                Case(((stamp, f"0x{stale - 5} {(stale - 5) * 60}x15"),), f"{stale + 5}m", ()),
            ),
        ),
        _n_plus_one_alert(watch),
    )


def _n_plus_one_alert(watch: StackWatch) -> Alert:
    """A service a host loss would now take below what the catalog needs, as drift judges it."""
    cases: list[Case] = []
    if watch.services:
        service = watch.services[0]
        fired = {
            c.LABEL_DATACENTER: watch.datacenter,
            c.LABEL_SERVICE: service.service,
            c.LABEL_OWNER: service.owner,
        }
        series = selector(c.SERVICE_N_PLUS_ONE, {**_facts_target(watch), **fired})
        cases = [
            Case(((series, "1x5 0x30"),), "25m", (fired,)),
            # The host came back before the `for:`: nobody is told.
            Case(((series, "1x5 0x5 1x20"),), "25m", ()),
            Case(((series, "1x30"),), "25m", ()),
        ]
    return Alert(
        name=c.NO_SPARE_HOST_ALERT,
        expr=f"min by ({c.LABEL_DATACENTER}, {c.LABEL_SERVICE}, {c.LABEL_OWNER}) "
        f"({c.SERVICE_N_PLUS_ONE}) == 0",
        for_="15m",
        severity=c.SEVERITY_TICKET,
        summary="{{ $labels.service }} in {{ $labels.datacenter }}: with the compute hosts Nova reports down "
        "or disabled, one more host loss would leave a pod or replica nowhere to go (not N+1)",
        cases=tuple(cases),
    )


def _facts_target(watch: StackWatch) -> dict[str, str]:
    """The labels Prometheus adds to a fact it scrapes from the first node's textfile collector."""
    return {"job": c.FACTS_JOB, metrics.LABEL_INSTANCE: f"{watch.monitoring.nodes[0]}:{c.NODE_EXPORTER_PORT}"}


def controller_alerts(watch: StackWatch) -> tuple[Alert, ...]:
    """The controllers' schedulers and filter release, as drift --controllers judges them."""
    if not watch.controllers:
        return ()
    where = {
        c.LABEL_DATACENTER: watch.datacenter,
        c.LABEL_CONTROLLER: watch.controllers[0].name,
        c.LABEL_OWNER: watch.platform_owner,
    }
    scheduler = {**where, c.LABEL_SCHEDULER: "nova"}
    loaded = selector(c.CONTROLLER_FILTERS_LOADED, {**_facts_target(watch), **scheduler})
    deployed = "a" * 64
    same = {**where, c.LABEL_RELEASE: deployed, c.LABEL_DEPLOYED: deployed}
    other = {**where, c.LABEL_RELEASE: "b" * 64, c.LABEL_DEPLOYED: deployed}
    release = selector(c.CONTROLLER_FILTER_RELEASE, {**_facts_target(watch), **same})
    rolled_back = selector(c.CONTROLLER_FILTER_RELEASE, {**_facts_target(watch), **other})
    return (
        Alert(
            name=c.FILTERS_NOT_LOADED_ALERT,
            expr=f"min by ({c.LABEL_DATACENTER}, {c.LABEL_CONTROLLER}, {c.LABEL_SCHEDULER}, {c.LABEL_OWNER}) "
            f"({c.CONTROLLER_FILTERS_LOADED}) == 0",
            for_="10m",
            severity=c.SEVERITY_TICKET,
            summary="{{ $labels.controller }}: the {{ $labels.scheduler }} scheduler is stopped or runs "
            "without the filters on disk, so it places without the pod and replica rules",
            cases=(
                Case(((loaded, "1x3 0x30"),), "20m", (scheduler,)),
                Case(((loaded, "1x3 0x5 1x25"),), "20m", ()),
                Case(((loaded, "1x30"),), "20m", ()),
            ),
        ),
        Alert(
            name=c.FILTER_RELEASE_ALERT,
            expr=f"min by ({c.LABEL_DATACENTER}, {c.LABEL_CONTROLLER}, {c.LABEL_OWNER}, {c.LABEL_RELEASE}, "
            f"{c.LABEL_DEPLOYED}) ({c.CONTROLLER_FILTER_RELEASE}) == 0",
            for_="15m",
            severity=c.SEVERITY_TICKET,
            summary="{{ $labels.controller }} runs filter release {{ $labels.release }}, not "
            "{{ $labels.deployed }} (the one its stack deployed), or its scheduler fragments were edited",
            cases=(
                Case(((rolled_back, "0x30"),), "20m", (other,)),
                Case(((release, "1x30"),), "20m", ()),
            ),
        ),
    )


def scheduling_alerts(watch: StackWatch) -> tuple[Alert, ...]:
    """Boots every host was filtered out of, from Nova's instance faults (monitoring_ops/facts.py)."""
    cases: list[Case] = []
    if watch.services:
        service = watch.services[0]
        fired = {
            c.LABEL_DATACENTER: watch.datacenter,
            c.LABEL_SERVICE: service.service,
            c.LABEL_OWNER: service.owner,
        }
        node = f"{watch.monitoring.nodes[0]}:{c.NODE_EXPORTER_PORT}"
        series = selector(
            c.NO_VALID_HOST_SERVERS, {"job": c.FACTS_JOB, metrics.LABEL_INSTANCE: node, **fired}
        )
        cases = [
            Case(((series, "0x5 1x30"),), "20m", (fired,)),
            # Deleting the server in ERROR (or a rebuild that placed it) ends the alert.
            Case(((series, "0x5 1x5 0x30"),), "20m", ()),
            Case(((series, "0x30"),), "20m", ()),
        ]
    return (
        Alert(
            name=c.NO_VALID_HOST_ALERT,
            expr=f"max by ({c.LABEL_DATACENTER}, {c.LABEL_SERVICE}, {c.LABEL_OWNER}) "
            f"({c.NO_VALID_HOST_SERVERS}) > 0",
            for_="5m",
            severity=c.SEVERITY_TICKET,
            summary="{{ $labels.service }} in {{ $labels.datacenter }}: servers in ERROR with "
            '"No valid host was found": every host was filtered out of their boot',
            cases=tuple(cases),
        ),
    )


def rule_groups(watch: StackWatch) -> tuple[RuleGroup, ...]:
    return (
        RuleGroup(name="webex-recording", file="recording", recordings=recordings()),
        RuleGroup(name="webex-pods", file="pods", alerts=(pod_alert(watch),)),
        *(
            RuleGroup(
                name=f"webex-service-{service.service}",
                file=f"service-{service.service}",
                alerts=service_alerts(watch, service),
            )
            for service in watch.services
        ),
        RuleGroup(name="webex-platform", file="platform", alerts=platform_alerts(watch)),
        RuleGroup(name="webex-placement", file="placement", alerts=placement_alerts(watch)),
        RuleGroup(name="webex-scheduling", file="scheduling", alerts=scheduling_alerts(watch)),
        RuleGroup(name="webex-controllers", file="controllers", alerts=controller_alerts(watch)),
    )
