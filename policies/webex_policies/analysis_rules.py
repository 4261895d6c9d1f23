"""Whether each release wave is judged by what users feel, and whether that judgement can judge at all.

Both rules read the analysis a wave's health gate carries in its spec (the gate's ``create``; the spec's
format is owned by webex_cloud/release/probe.py, the analysis by webex_cloud/release/analysis.py, and
tests/policies/test_gate_spec_contract.py renders one through both sides). The pack cannot see what a
change does to the deployed pods (the Analyzer protocol's ``AnalyzeRequest`` and ``AnalyzerResource``
carry a resource's new inputs only: pulumi/pulumi ``proto/pulumi/analyzer.proto`` as the pinned SDK
3.272.0 generates it has ``type``, ``properties``, ``urn``, ``name``, ``options``, ``provider`` (and a
stack resource its parent and dependencies); pulumi-policy 1.21.0 ``policy.py`` builds
``StackValidationArgs`` of those, the policy's config and the stack's tags).

- :func:`weakly_judged` (advisory): a release nothing judges by what users feel, for the services the
  change releases (``releasedServices``, config the harness derives from the old side and the new).
  Its gates carry no analysis (the datacenter has no Prometheus), or the analysis is the health check's
  default probes and every check is a TCP connect, which passes a service that fails its calls.
- :func:`unable_to_judge` (mandatory, every gated service whatever the change releases: a change that
  releases nothing still ships the analysis the next release runs): a declared (or default) analysis
  whose verdict could only be "cannot judge" or a pass for want of evidence: a query that reads no
  series of the side it is asked for (a constant such as ``vector(0)`` or ``1``, or a selector that does
  not split new pods from old ones), a series of another service's job, a latency judged without a
  percentile, a bake shorter than a few scrapes, too few requests, no metric, or no absolute limit for
  the last wave.

PromQL is read lexically (strings, comments, selectors, function names), not evaluated: enough to find
what each selector selects, which is all the rules ask.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from webex_policies.params import AnalysisParams
from webex_policies.stack_rules import GATE_FORMAT, Violation

SIDE_LABELS = {"instances": "instance", "pods": "pod"}
"""Placeholder -> the label the generated monitoring gives it (``facts/metrics.py``: ``$instances`` is
matched against ``instance``, the Nova name; ``$pods`` against ``pod``)."""
QUANTILE_FUNCTIONS = ("histogram_quantile", "quantile_over_time", "quantile")
"""PromQL functions whose first argument is the quantile they return (Prometheus v2.42.0
``promql/parser/functions.go`` and the ``quantile`` aggregation)."""
_LATENCY_NAME = re.compile(r"(duration|latency)", re.IGNORECASE)
_COUNTER_SUFFIXES = ("_count", "_total")
"""A ``…_duration_seconds_count`` counts requests; it is not a latency."""
PROBE_JOB_PREFIX = "probe-"
APP_JOB_PREFIX = "app-"
"""The jobs of one service in the generated monitoring (``facts/metrics.py``: ``probe-<service>-<role>``,
``app-<service>``)."""


@dataclass(frozen=True)
class Selector:
    """One vector selector of a query: its metric name (empty when written ``{...}`` only) and matchers."""

    name: str
    matchers: tuple[tuple[str, str, str], ...]
    """(label, operator, value) as written, value unquoted."""


@dataclass(frozen=True)
class Query:
    """What a query reads, found lexically."""

    selectors: tuple[Selector, ...]
    functions: tuple[tuple[str, str], ...]
    """(function name, its first argument as written) for each call."""


_TOKEN = re.compile(
    r"""(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)"""
    r"|(?P<comment>\#[^\n]*)"
    r"|(?P<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)"
    r"|(?P<open>\{)|(?P<close>\})|(?P<paren>\()|(?P<bracket>\[)|(?P<end_bracket>\])"
    r"|(?P<other>.)",
    re.DOTALL,
)
_MATCHER = re.compile(
    r"""\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)\s*,?"""
)
_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"}
    | {"inf", "nan"}
    # Aggregation operators written with their grouping first: sum by (le) (...).
    | {"sum", "avg", "min", "max", "count", "group", "stddev", "stdvar", "topk", "bottomk", "quantile"}
    | {"count_values"}
)
_ZEROED = re.compile(r"(?:^|[^\w.])0*\.?0+\s*\*|\*\s*0*\.?0+(?![\w.])")
"""A product with a literal zero: whatever it selects, the value is 0 on both sides."""


def read_query(text: str) -> Query:
    """The selectors and function calls of a PromQL text. Comments, strings outside selectors, range
    and subquery durations and ``$placeholders`` are skipped, so a placeholder inside a string outside
    a selector (``label_replace(vector(0), …, "$instances", …)``) selects nothing."""
    selectors: list[Selector] = []
    functions: list[tuple[str, str]] = []
    tokens = [(m.lastgroup or "", m.group()) for m in _TOKEN.finditer(text)]
    tokens = [(kind, value) for kind, value in tokens if kind != "comment" and not value.isspace()]
    index = 0
    while index < len(tokens):
        kind, value = tokens[index]
        following = tokens[index + 1] if index + 1 < len(tokens) else ("", "")
        previous = tokens[index - 1] if index else ("", "")
        if kind == "bracket":  # [5m], [$window], [1h:5m]: durations, never selectors
            while index < len(tokens) and tokens[index][0] != "end_bracket":
                index += 1
            index += 1
            continue
        if kind == "ident" and following[0] == "paren":
            argument = tokens[index + 2][1] if index + 2 < len(tokens) else ""
            functions.append((value, argument))
            index += 2
            continue
        if kind == "ident" and (previous[1] == "$" or previous[0] == "number" or previous[1] == "offset"):
            index += 1  # a placeholder, a duration's unit (offset 5m), or the duration after offset
            continue
        if kind == "ident" and following[0] != "open":
            # A bare name selects every series of that name, unless it is a keyword or a label of
            # by/without/on/ignoring (...).
            if not _keyword(value, tokens, index):
                selectors.append(Selector(value, ()))
            index += 1
            continue
        if kind in ("ident", "open"):
            start = index + (2 if kind == "ident" else 1)
            end = start
            while end < len(tokens) and tokens[end][0] != "close":
                end += 1
            body = "".join(v for _, v in tokens[start:end])
            matchers = tuple(
                (label, operator, _unquote(quoted)) for label, operator, quoted in _MATCHER.findall(body)
            )
            selectors.append(Selector(value if kind == "ident" else "", matchers))
            index = end + 1
            continue
        index += 1
    return Query(tuple(selectors), tuple(functions))


def zeroed(text: str) -> bool:
    """A product with a literal 0 outside strings and comments (``0 * sum(...)``)."""
    kept = " ".join(
        v
        for kind, v in ((m.lastgroup, m.group()) for m in _TOKEN.finditer(text))
        if kind not in ("comment", "string")
    )
    return bool(_ZEROED.search(kept))


def _keyword(value: str, tokens: Sequence[tuple[str, str]], index: int) -> bool:
    if value.lower() in _KEYWORDS:
        return True
    # A label listed in by (...)/on (...): walk back to the opening parenthesis.
    back = index - 1
    while back >= 0 and tokens[back][0] in ("ident", "other") and tokens[back][1] not in "()":
        back -= 1
    return back >= 1 and tokens[back][0] == "paren" and tokens[back - 1][1].lower() in _KEYWORDS


def _unquote(quoted: str) -> str:
    return quoted[1:-1]


def _selects_side(selector: Selector) -> bool:
    """The selector keeps one side's series only: ``instance=~"$instances"`` or ``pod=~"$pods"``."""
    # Exactly the placeholder: "$instances|.*" would select every pod on both sides.
    return any(
        operator == "=~" and value in {f"${p}" for p, side in SIDE_LABELS.items() if side == label}
        for label, operator, value in selector.matchers
    )


def _literal(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class GateAnalysis:
    """What the rules need of one gate spec."""

    service: str
    wave: int
    protocols: frozenset[str]
    timeouts: tuple[float, ...]
    analysis: Mapping[str, Any] | None


def read_gate(create: object) -> GateAnalysis | None:
    """The analysis of a gate spec, or None when ``create`` is not a gate spec (the gating rule reports
    a gate it cannot read; an unknown ``create`` during a preview proves nothing)."""
    if not isinstance(create, str):
        return None
    try:
        spec = json.loads(create)
    except ValueError:
        return None
    if not isinstance(spec, dict) or spec.get("format") != GATE_FORMAT:
        return None
    service, wave, targets = spec.get("service"), spec.get("wave"), spec.get("targets")
    if not (isinstance(service, str) and isinstance(wave, int) and isinstance(targets, list)):
        return None
    checks: list[dict[str, Any]] = [
        t["check"] for t in targets if isinstance(t, dict) and isinstance(t.get("check"), dict)
    ]
    timeouts = [c.get("timeout_s") for c in checks]
    analysis = spec.get("analysis")
    return GateAnalysis(
        service=service,
        wave=wave,
        protocols=frozenset(str(c.get("protocol")) for c in checks),
        # A timeout the pack cannot read counts as none: the monitoring's own interval still applies.
        timeouts=tuple(float(t) for t in timeouts if isinstance(t, (int, float)) and not isinstance(t, bool)),
        analysis=analysis if isinstance(analysis, dict) else None,
    )


def _first_gates(gates: Sequence[tuple[str, GateAnalysis]]) -> dict[str, tuple[str, GateAnalysis]]:
    """Service -> (URN, analysis) of its first wave's gate: the waves of a service share its ``rollout``."""
    first: dict[str, tuple[str, GateAnalysis]] = {}
    for urn, gate in sorted(gates, key=lambda item: (item[1].service, item[1].wave)):
        first.setdefault(gate.service, (urn, gate))
    return first


def _catalog(service: str) -> str:
    return f"catalog/{service}.yaml"


def weakly_judged(gates: Sequence[tuple[str, GateAnalysis]], released: Collection[str]) -> list[Violation]:
    """A service ``released`` by this change whose waves nothing judges by what users feel (advisory)."""
    out: list[Violation] = []
    for service, (urn, gate) in sorted(_first_gates(gates).items()):
        if service not in released:
            continue
        if gate.analysis is None:
            out.append(
                (
                    f"service {service}: its releases are judged on serving only: no Prometheus judges a "
                    "wave by its metrics in this datacenter, so a release that fails its calls reaches "
                    "every pod; declare monitoring in the stack file (stacks/Pulumi.<stack>.yaml, "
                    "webex-cloud:datacenter.monitoring, docs/monitoring.md)",
                    urn,
                )
            )
        elif not gate.analysis.get("declared") and gate.protocols <= {"tcp"}:
            out.append(
                (
                    f"service {service}: its releases are judged only by TCP connects (the default "
                    "analysis reads the health check's probes, and every check is tcp), which pass while "
                    f"the service fails its calls; in {_catalog(service)} declare rollout.analysis.metrics "
                    "(with metrics: {port: ...}, the service's own endpoint) or an HTTP health check, "
                    "rollout.health_check: {protocol: https, port: ..., path: /healthz} "
                    "(docs/releasing.md, section 4a)",
                    urn,
                )
            )
    return out


def _probe_interval(timeout_s: float, interval_s: int) -> int:
    """The scrape interval of a probe job: the probe keeps its whole timeout and a second more
    (webex_cloud/monitoring/scrape.py ``scrape_timing``; tests/policies/test_analysis_rules.py pins both)."""
    return max(interval_s, math.ceil(timeout_s) + 1)


def _own_job(job: str, service: str) -> bool:
    """A job of this service in the generated monitoring (``$service`` is filled with its name)."""
    name = job.replace("$service", service)
    return name == f"{APP_JOB_PREFIX}{service}" or name.startswith(f"{PROBE_JOB_PREFIX}{service}-")


def _query_problems(field: str, text: object, service: str) -> Iterator[str]:
    if not isinstance(text, str) or not text.strip():
        yield f"{field}: no query"
        return
    query = read_query(text)
    if not query.selectors:
        yield (
            f"{field}: reads no series at all (a constant such as vector(0) or 1 is the same for the new "
            "and the old pods and never fails); select the side's series, e.g. "
            'requests_total{instance=~"$instances"}'
        )
        return
    unsplit = [s for s in query.selectors if not _selects_side(s)]
    if unsplit:
        shown = ", ".join(dict.fromkeys(s.name or "{...}" for s in unsplit))
        yield (
            f'{field}: the selector(s) {shown} do not select one side (instance=~"$instances" or '
            'pod=~"$pods"), so they read the same series for the new and the old pods; select the side '
            "in every selector"
        )
    if zeroed(text):
        yield f"{field}: multiplies by 0, so it reads 0 on both sides whatever the pods do"
    for selector in query.selectors:
        for label, operator, value in selector.matchers:
            if label != "job" or operator not in ("=", "=~"):
                continue
            jobs = value.split("|") if operator == "=~" else [value]
            foreign = [job for job in jobs if not _own_job(job, service)]
            if foreign:
                yield (
                    f"{field}: job {', '.join(foreign)} is no job of {service} in the generated monitoring "
                    f"(its jobs: {APP_JOB_PREFIX}{service}, {PROBE_JOB_PREFIX}{service}-<role>), so the "
                    "query reads no series of its pods and every wave could not be judged"
                )


def _latency_problems(field: str, text: str, min_quantile: float) -> Iterator[str]:
    query = read_query(text)
    latency = [
        s.name
        for s in query.selectors
        if _LATENCY_NAME.search(s.name) and not s.name.endswith(_COUNTER_SUFFIXES)
    ]
    if not latency:
        return
    quantiles = [argument for name, argument in query.functions if name in QUANTILE_FUNCTIONS]
    if not quantiles:
        yield (
            f"{field}: judges a latency ({', '.join(dict.fromkeys(latency))}) without a percentile: a "
            "mean or a sum hides the slow calls users feel; use histogram_quantile(0.95, sum by (le) "
            "(rate(…_bucket{…}[$window]))) or quantile_over_time(0.95, …)"
        )
        return
    for argument in quantiles:
        value = _literal(argument)
        if value is None or not min_quantile <= value <= 1:
            yield (
                f"{field}: the percentile {argument} is not a number from {min_quantile:g} to 1: a lower "
                f"one misses the tail users feel; use {max(min_quantile, 0.95):g} or higher"
            )


def _shown(value: object) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else repr(value)


def unable_to_judge(gates: Sequence[tuple[str, GateAnalysis]], params: AnalysisParams) -> list[Violation]:
    """A release analysis whose verdict could only be "cannot judge", or a pass on no evidence (mandatory)."""
    out: list[Violation] = []
    for service, (urn, gate) in sorted(_first_gates(gates).items()):
        analysis = gate.analysis
        if analysis is None:
            continue  # nothing judges this release: the advisory rule says so
        where = _catalog(service)
        problems: list[str] = []
        slowest = max(
            [params.scrape_interval_s, *(_probe_interval(t, params.scrape_interval_s) for t in gate.timeouts)]
        )
        bake = analysis.get("bake_s")
        needed = params.min_scrapes * slowest
        if not isinstance(bake, (int, float)) or bake < needed:
            problems.append(
                f"rollout.analysis.bake_s: {_shown(bake)} s is shorter than {params.min_scrapes} scrapes of "
                f"{slowest} s ({needed} s): the window holds too few samples to judge; set it to at "
                f"least {needed}"
            )
        least = analysis.get("min_requests")
        if not isinstance(least, (int, float)) or least < params.min_requests:
            problems.append(
                f"rollout.analysis.min_requests: {_shown(least)} is fewer than {params.min_requests}: a "
                f"verdict on so few requests is noise; set at least {params.min_requests}"
            )
        problems += _query_problems("rollout.analysis.requests", analysis.get("requests"), service)
        metrics = analysis.get("metrics")
        if not isinstance(metrics, list) or not metrics:
            problems.append(
                "rollout.analysis.metrics: no metric, so every wave passes on no evidence; declare at "
                "least one (or remove the list: the health check's probes are judged then)"
            )
            metrics = []
        limited = False
        for index, metric in enumerate(metrics):
            field = f"rollout.analysis.metrics[{index}]"
            if not isinstance(metric, dict):
                problems.append(f"{field}: not a metric")
                continue
            limits = [metric.get(k) for k in ("max", "max_increase", "max_ratio")]
            if all(v is None for v in limits):
                problems.append(f"{field}: judges nothing; set max, max_increase or max_ratio")
            limited = limited or metric.get("max") is not None
            query = metric.get("query")
            problems += _query_problems(f"{field}.query", query, service)
            if isinstance(query, str):
                problems += _latency_problems(f"{field}.query", query, params.min_quantile)
        if metrics and not limited:
            problems.append(
                "rollout.analysis.metrics: no metric has an absolute limit (max), so the last wave, with no "
                "old pods left, is never judged; set max on at least one"
            )
        if problems:
            listing = "; ".join(problems)
            out.append(
                (
                    f"service {service}: its release analysis cannot judge a wave ({listing}); fix it in "
                    f"{where} (docs/releasing.md, section 4a)",
                    urn,
                )
            )
    return out
