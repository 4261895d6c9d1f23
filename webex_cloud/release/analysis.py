"""The judgement of a release wave by what users feel: the wave's pods against the pods not yet changed.

A wave's gate (``release/probe.py``) first waits for its instances to serve, then lets them bake for
``bake_s`` seconds, then asks the stack's Prometheus for each metric over exactly that window, once for
the wave's instances ("new") and once for the instances of the pods later waves will change ("old"), and
calls :func:`judge`. ``python -m webex_cloud judge`` runs the same :func:`analyse` on demand.

The judgement is a pure function of the readings (the shape of Argo Rollouts' analysis: data in, verdict
out); fetching is :func:`prometheus_query`, the one place that speaks Prometheus' HTTP API. Every metric
is a quantity where **lower is better** (an error ratio, a latency): it fails when the new value exceeds

- ``max`` (an absolute limit, judged on every wave, and the only judgement of the last wave, which has no
  old pods left to compare with);
- the old value by more than ``max_increase`` (a difference: 0.01 is one point of a ratio);
- the old value times ``max_ratio`` (1.5: half again as slow);

where a difference of at most ``tolerance`` never fails (a 2 ms probe against a 1 ms one is noise). Too few
requests in the window (``min_requests``, counted by the ``requests`` query, on either side), a query that
fails, returns no series, several series or NaN, and a Prometheus that does not answer all mean "cannot
judge", which fails the gate: a release is never passed for want of evidence.

Standard library only, like the probe that runs it.
"""

from __future__ import annotations

import json
import math
import string
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from webex_cloud.facts.metrics import LABEL_INSTANCE, PROBE_DURATION, PROBE_SUCCESS, probe_job

Outcome = Literal["pass", "fail", "cannot-judge"]
PASS: Final = "pass"
FAIL: Final = "fail"
CANNOT_JUDGE: Final = "cannot-judge"

QUERY_TIMEOUT_S: Final = 10.0
"""One query's HTTP time-out (and Prometheus' own ``timeout`` parameter): a Prometheus that cannot answer
in this time cannot judge."""

FAILURE_RATIO: Final = "probe-failure-ratio"
DURATION_P95: Final = "probe-duration-p95"


@dataclass(frozen=True)
class MetricSpec:
    """One metric a wave is judged by (lower is better); at least one limit is set."""

    name: str
    query: str
    """PromQL returning one series (aggregate it: ``sum``, ``avg``, ``max``), with the placeholders of
    ``facts/metrics.py`` (``$instances``, ``$pods``, ``$window``, ...)."""
    max: float | None = None
    max_increase: float | None = None
    max_ratio: float | None = None
    tolerance: float = 0.0

    def limits(self) -> str:
        """The metric's rule in a few words (for the logs, the preview and the command)."""
        parts = []
        if self.max_increase is not None:
            parts.append(f"new > old + {self.max_increase:g}")
        if self.max_ratio is not None:
            parts.append(f"new > {self.max_ratio:g} x old")
        if self.max is not None:
            parts.append(f"new > {self.max:g}")
        slack = f" (differences up to {self.tolerance:g} ignored)" if self.tolerance else ""
        return "fails when " + " or ".join(parts) + slack


@dataclass(frozen=True)
class AnalysisSpec:
    """Everything one wave's judgement needs; part of the gate spec's JSON (``release/probe.py``)."""

    prometheus: tuple[str, ...]
    """Base URLs of the stack's Prometheus nodes (``http://10.0.0.5:9090``), asked in order."""
    bake_s: float
    new_instances: tuple[str, ...]
    """Nova names of the wave's instances (the ``instance`` label of the generated monitoring)."""
    new_pods: tuple[str, ...]
    old_instances: tuple[str, ...]
    """Nova names of the instances of the pods no earlier wave and not this one changes; none for the last."""
    old_pods: tuple[str, ...]
    requests: str
    """PromQL counting the requests (or probes) of a side in the window."""
    min_requests: float
    metrics: tuple[MetricSpec, ...]
    declared: bool = False
    """Whether the metrics are the catalog's ``rollout.analysis`` (else the health check's probes)."""

    def summary(self) -> str:
        """``bakes 300s, then judged on a, b (new pods vs old, at least 10 requests)``; a declared analysis
        adds each metric's limits (``: a fails when new > old + 0.01 or new > 0.02; b …``): the catalog's
        own numbers are what a reviewer of the release has to read, the defaults are in the docs."""
        source = "" if self.declared else " of the health check's probes"
        limits = "; ".join(f"{m.name} {m.limits()}" for m in self.metrics) if self.declared else ""
        return (
            f"each wave bakes {self.bake_s:g}s, then is judged on {', '.join(m.name for m in self.metrics)}"
            f"{source} (new pods vs unchanged ones, at least {self.min_requests:g} requests)"
            f"{': ' + limits if limits else ''}"
        )

    @staticmethod
    def from_document(document: Mapping[str, Any]) -> AnalysisSpec:
        fields: dict[str, Any] = dict(document)
        fields["metrics"] = tuple(MetricSpec(**m) for m in fields["metrics"])
        for name in ("prometheus", "new_instances", "new_pods", "old_instances", "old_pods"):
            fields[name] = tuple(fields[name])
        return AnalysisSpec(**fields)


@dataclass(frozen=True)
class Reading:
    """One query's answer: a number, or why there is none."""

    value: float | None
    problem: str = ""
    no_series: bool = False
    """Prometheus answered, with no series at all: nothing matched the selection in the window."""


@dataclass(frozen=True)
class Side:
    """The readings of one side (new or old) of a wave."""

    requests: Reading
    metrics: Mapping[str, Reading]


@dataclass(frozen=True)
class MetricResult:
    name: str
    outcome: Outcome
    new: float | None
    old: float | None
    rule: str
    """What the metric fails on (:meth:`MetricSpec.limits`)."""


@dataclass(frozen=True)
class Verdict:
    """The judgement of one wave: its outcome, why, and the numbers behind it."""

    outcome: Outcome
    reasons: tuple[str, ...]
    """Human lines: what failed or could not be judged, or why it passed."""
    requests_new: float | None
    requests_old: float | None
    metrics: tuple[MetricResult, ...] = field(default=())

    @property
    def passed(self) -> bool:
        return self.outcome == PASS


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _judge_metric(metric: MetricSpec, new: Reading, old: Reading | None, reasons: list[str]) -> MetricResult:
    def result(outcome: Outcome) -> MetricResult:
        return MetricResult(
            metric.name, outcome, new.value, None if old is None else old.value, metric.limits()
        )

    if new.value is None:
        reasons.append(f"{metric.name}: cannot judge the new pods: {new.problem}")
        return result(CANNOT_JUDGE)
    failures = []
    if metric.max is not None and new.value > metric.max and new.value - metric.max > metric.tolerance:
        failures.append(f"{metric.name}: new {_number(new.value)} exceeds the limit {metric.max:g}")
    compares = metric.max_increase is not None or metric.max_ratio is not None
    if compares and old is not None:
        if old.value is None:
            reasons.append(f"{metric.name}: cannot compare with the old pods: {old.problem}")
            return result(FAIL if failures else CANNOT_JUDGE)
        difference = new.value - old.value
        if difference > metric.tolerance:
            if metric.max_increase is not None and difference > metric.max_increase:
                failures.append(
                    f"{metric.name}: new {_number(new.value)} exceeds old {_number(old.value)} by "
                    f"{difference:.6g}, more than {metric.max_increase:g}"
                )
            if metric.max_ratio is not None and new.value > old.value * metric.max_ratio:
                ratio = "inf" if old.value <= 0 else f"{new.value / old.value:.3g}"
                failures.append(
                    f"{metric.name}: new {_number(new.value)} is {ratio} x old {_number(old.value)}, "
                    f"more than {metric.max_ratio:g} x"
                )
    reasons.extend(failures)
    if failures:
        return result(FAIL)
    if metric.max is None and old is None:
        reasons.append(f"{metric.name}: not judged: no old pods left to compare with and no absolute limit")
    return result(PASS)


def judge(spec: AnalysisSpec, new: Side, old: Side | None) -> Verdict:
    """The verdict of one wave from its readings; ``old`` is None when no pod is left unchanged (the last
    wave), and the wave is then judged on absolute limits only, as when the old pods have no series of
    requests at all (they do not exist yet: a first deploy)."""
    reasons: list[str] = []
    if old is not None and old.requests.no_series:
        # The pods later waves change do not exist yet (a service's first deploy creates them wave by
        # wave) or are not scraped: there is nothing to compare with, as on the last wave.
        reasons.append(
            "old pods: no series of their requests (not created yet, as in a first deploy): judged on "
            "absolute limits only"
        )
        old = None
    enough = True
    for label, side in (("new", new), ("old", old)):
        if side is None:
            continue
        count = side.requests.value
        if count is None:
            reasons.append(f"requests: cannot count the {label} pods' requests: {side.requests.problem}")
            enough = False
        elif count < spec.min_requests:
            reasons.append(
                f"requests: the {label} pods had {count:g} requests in the window, fewer than the "
                f"{spec.min_requests:g} a judgement needs"
            )
            enough = False
    results = tuple(
        _judge_metric(
            metric,
            new.metrics.get(metric.name, Reading(None, "not measured")),
            None if old is None else old.metrics.get(metric.name, Reading(None, "not measured")),
            reasons,
        )
        for metric in spec.metrics
    )
    judged = old is not None or any(m.max is not None for m in spec.metrics)
    outcomes = {r.outcome for r in results}
    old_requests = None if old is None else old.requests.value
    if FAIL in outcomes and enough:
        outcome: Outcome = FAIL
    elif not enough or CANNOT_JUDGE in outcomes or not judged:
        # A metric that fails on too few requests is noise, not evidence: still "cannot judge".
        outcome = CANNOT_JUDGE
        if not judged:
            reasons.append("no metric could be judged: declare an absolute limit (max) on at least one")
    else:
        outcome = PASS
        basis = "absolute limits (no old pods left)" if old is None else "the old pods and absolute limits"
        reasons.append(f"every metric within its limits against {basis}")
    return Verdict(outcome, tuple(reasons), new.requests.value, old_requests, results)


def _alternation(names: Sequence[str]) -> str:
    # Our names are [a-z0-9-] (naming.py): nothing to escape in an RE2 alternation inside a PromQL string.
    return "|".join(names)


def render_query(
    query: str,
    *,
    instances: Sequence[str],
    pods: Sequence[str],
    window_s: float,
    service: str,
    datacenter: str,
) -> str:
    """The query with its placeholders filled for one side."""
    return string.Template(query).substitute(
        instances=_alternation(instances),
        pods=_alternation(pods),
        window=f"{max(1, math.ceil(window_s))}s",
        service=service,
        datacenter=datacenter,
    )


Query = Callable[[str], Reading]
"""Runs one PromQL query (evaluated at one moment) and reads its single value."""


def prometheus_query(urls: Sequence[str], at: float, timeout_s: float = QUERY_TIMEOUT_S) -> Query:
    """Queries through Prometheus' instant query API, ``GET /api/v1/query?query=…&time=…``, asking each
    node in turn until one answers.

    The answer's format is Prometheus v2.42.0's (``web/api/v1/api.go``: ``response`` is ``{"status",
    "data": {"resultType", "result"}, "errorType", "error"}``; a vector sample is ``{"metric", "value":
    [<unix time>, "<value as a string>"]}``, a scalar ``[<unix time>, "<value>"]``, ``docs/querying/api.md``).
    """

    def query(promql: str) -> Reading:
        problems = []
        for url in urls:
            parameters = urllib.parse.urlencode(
                {"query": promql, "time": f"{at:.3f}", "timeout": f"{timeout_s:g}s"}
            )
            try:
                with urllib.request.urlopen(
                    f"{url.rstrip('/')}/api/v1/query?{parameters}", timeout=timeout_s
                ) as answer:
                    body = answer.read()
            except urllib.error.HTTPError as error:
                # Prometheus answers a bad query with 400 and its error in the body: that is an answer.
                body = error.read()
                if not body:
                    problems.append(f"{url}: HTTP {error.code}")
                    continue
            except (OSError, ValueError) as error:
                problems.append(f"{url}: unreachable ({getattr(error, 'reason', None) or error})")
                continue
            return read_answer(body)
        return Reading(None, "Prometheus did not answer: " + "; ".join(problems or ["no Prometheus URL"]))

    return query


def read_answer(body: bytes) -> Reading:
    """The single value of one instant query's answer, or why there is none."""
    try:
        document = json.loads(body)
    except ValueError:
        return Reading(None, "Prometheus answered something that is not JSON")
    if not isinstance(document, dict):
        return Reading(None, "Prometheus answered something that is not a query result")
    if document.get("status") != "success":
        return Reading(
            None, f"the query failed: {document.get('errorType', '?')}: {document.get('error', '?')}"
        )
    data = document.get("data")
    if not isinstance(data, dict):
        return Reading(None, "Prometheus answered without data")
    result = data.get("result")
    sample: object
    if data.get("resultType") == "scalar" and isinstance(result, list) and len(result) == 2:
        sample = result
    elif data.get("resultType") == "vector" and isinstance(result, list):
        if not result:
            return Reading(
                None, "no series (nothing scraped for these instances in the window?)", no_series=True
            )
        if len(result) > 1:
            return Reading(
                None, f"{len(result)} series where one was expected: aggregate the query (sum, avg, max)"
            )
        entry = result[0]
        sample = entry.get("value") if isinstance(entry, dict) else None
    else:
        return Reading(None, f"a {data.get('resultType')!r} result where a vector or scalar was expected")
    try:
        value = float(sample[1]) if isinstance(sample, list) and len(sample) == 2 else math.nan
    except (TypeError, ValueError):
        value = math.nan
    if math.isnan(value):
        return Reading(None, "the value is NaN (a division by zero: no samples in the window?)")
    return Reading(value)


def _side(
    spec: AnalysisSpec,
    query: Query,
    instances: Sequence[str],
    pods: Sequence[str],
    context: Mapping[str, str],
) -> Side:
    def read(promql: str) -> Reading:
        return query(render_query(promql, instances=instances, pods=pods, window_s=spec.bake_s, **context))

    return Side(read(spec.requests), {m.name: read(m.query) for m in spec.metrics})


def analyse(spec: AnalysisSpec, query: Query, *, service: str, datacenter: str) -> Verdict:
    """Read both sides through ``query`` and judge them (what the gate does after the bake)."""
    context = {"service": service, "datacenter": datacenter}
    new = _side(spec, query, spec.new_instances, spec.new_pods, context)
    old = _side(spec, query, spec.old_instances, spec.old_pods, context) if spec.old_instances else None
    return judge(spec, new, old)


def default_metrics(service: str, roles: Mapping[str, float]) -> tuple[str, tuple[MetricSpec, ...]]:
    """The requests query and metrics of a service that declares none: its health check's blackbox probes.

    ``roles`` maps each role to its health check's ``timeout_s``. Each probe counts as a request (at the
    monitoring's 15 s scrape interval, five minutes of bake are 20 probes per instance).
    """
    jobs = "|".join(probe_job(service, role) for role in sorted(roles))
    selector = f'{{job=~"{jobs}",{LABEL_INSTANCE}=~"$instances"}}'
    p95_limit = min(roles.values()) / 2
    return (
        f"sum(count_over_time({PROBE_SUCCESS}{selector}[$window]))",
        (
            MetricSpec(
                name=FAILURE_RATIO,
                query=f"1 - avg(avg_over_time({PROBE_SUCCESS}{selector}[$window]))",
                max=0.01,
                max_increase=0.01,
            ),
            MetricSpec(
                name=DURATION_P95,
                query=f"avg(quantile_over_time(0.95, {PROBE_DURATION}{selector}[$window]))",
                max=p95_limit,
                max_ratio=1.5,
                tolerance=0.005,
            ),
        ),
    )


def describe(verdict: Verdict) -> list[str]:
    """The verdict as lines: the outcome, the numbers per metric, the reasons."""
    lines = [
        f"verdict: {verdict.outcome.upper()} (requests in the window: new {_number(verdict.requests_new)}, "
        f"old {_number(verdict.requests_old)})"
    ]
    for result in verdict.metrics:
        lines.append(
            f"  {result.name}: {result.outcome} - new {_number(result.new)}, old {_number(result.old)}; "
            f"{result.rule}"
        )
    lines += [f"  - {reason}" for reason in verdict.reasons]
    return lines
