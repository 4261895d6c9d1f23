"""The release-judgement rules on gate specs the program renders, and PromQL read the way they read it.

A gate spec is rendered by the program's own ``webex_cloud.release.rollout.gate_spec`` from the example
catalog, then changed the way a catalog edit (or a regressed component) would change it: each way of
talking the mandatory rule around (an empty metrics list, a short bake, a constant query, a query whose
side sits in a string, a zero product, another service's job, a mean latency) is refused, and the
example's own analyses pass.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
import yaml
from pulumi.runtime.proto import analyzer_pb2
from webex_policies.analysis_rules import (
    GateAnalysis,
    _probe_interval,
    read_gate,
    read_query,
    unable_to_judge,
    weakly_judged,
)
from webex_policies.params import AnalysisParams

from tests.conftest import REPO
from webex_cloud import naming
from webex_cloud.commands.monitoring import generate
from webex_cloud.config.loader import load_catalog
from webex_cloud.config.models import HealthCheck, Service
from webex_cloud.facts.metrics import SCRAPE_INTERVAL_S
from webex_cloud.monitoring.scrape import scrape_timing
from webex_cloud.policy_check.config import derived_config
from webex_cloud.release.probe import GateSpec
from webex_cloud.release.rollout import InstanceFacts, gate_spec

PARAMS = AnalysisParams.parse({})
PROMETHEUS = ("http://10.250.1.15:9090",)
REQUESTS = 'sum(increase(calls_total{job="app-$service",instance=~"$instances"}[$window]))'


def _service(name: str) -> Service:
    return next(service for _, service in load_catalog(REPO) if service.name == name)


def rendered(name: str, prometheus: tuple[str, ...] = PROMETHEUS) -> dict[str, Any]:
    """Wave 1's gate spec of an example service, as its gate's ``create`` holds it."""
    service = _service(name)
    facts = [
        InstanceFacts(
            pod=naming.pod(name, 0),
            name=naming.instance(naming.pod(name, 0), member.role, ordinal),
            role=member.role,
            address=f"10.10.0.{10 + ordinal}",
            disruptive_inputs={"image": member.image},
        )
        for member in service.pods.members
        for ordinal in range(member.count)
    ]
    document: dict[str, Any] = json.loads(gate_spec(service, "dc1", 1, 3, facts, prometheus).to_json())
    return document


def gates(*specs: dict[str, Any]) -> list[tuple[str, GateAnalysis]]:
    out = []
    for spec in specs:
        gate = read_gate(json.dumps(spec))
        assert gate is not None
        out.append((f"urn:{spec['service']}-wave-{spec['wave']}-gate", gate))
    return out


def refusal(spec: dict[str, Any]) -> str:
    [(message, urn)] = unable_to_judge(gates(spec), PARAMS)
    assert urn == f"urn:{spec['service']}-wave-1-gate"
    assert "catalog/" in message and "docs/releasing.md" in message
    return message


def declared(**change: Any) -> dict[str, Any]:
    """meetings-signalling's spec (the example that declares its own metrics) with ``change`` applied
    to its analysis."""
    spec = rendered("meetings-signalling")
    spec["analysis"].update(change)
    return spec


def metric(query: str, **limits: Any) -> dict[str, Any]:
    return {
        "name": "m",
        "query": query,
        "max": None,
        "max_increase": None,
        "max_ratio": None,
        "tolerance": 0.0,
        **(limits or {"max": 0.02}),
    }


# --- passing cases -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["meetings-signalling", "meetings-media", "messaging", "recording-storage", "telepresence-gateway"],
)
def test_every_example_analysis_can_judge(name: str) -> None:
    assert unable_to_judge(gates(rendered(name)), PARAMS) == []


def test_the_example_that_declares_metrics_is_judged_on_them_and_not_warned() -> None:
    spec = rendered("meetings-signalling")
    assert spec["analysis"]["declared"] is True
    assert [m["name"] for m in spec["analysis"]["metrics"]] == ["call-error-ratio", "call-latency-p95"]
    assert weakly_judged(gates(spec), {spec["service"]}) == []


def test_an_http_health_check_is_enough_without_declared_metrics() -> None:
    spec = rendered("messaging")
    for target in spec["targets"]:
        target["check"].update(protocol="https", path="/healthz")
    assert weakly_judged(gates(spec), {spec["service"]}) == []


# --- the advisory rule ---------------------------------------------------------------------------


def test_a_service_judged_only_by_tcp_connects_is_warned_with_the_fix() -> None:
    [(message, urn)] = weakly_judged(gates(rendered("messaging")), {"messaging"})
    assert urn == "urn:messaging-wave-1-gate"
    assert "judged only by TCP connects" in message
    assert "catalog/messaging.yaml" in message and "rollout.analysis.metrics" in message
    assert "rollout.health_check" in message


def test_a_datacenter_without_prometheus_is_warned_even_with_declared_metrics() -> None:
    [(message, _)] = weakly_judged(
        gates(rendered("meetings-signalling", prometheus=())), {"meetings-signalling"}
    )
    assert "judged on serving only" in message and "webex-cloud:datacenter.monitoring" in message


def test_one_warning_per_service_not_per_wave() -> None:
    first, second = rendered("messaging"), rendered("messaging")
    second["wave"] = 2
    assert len(weakly_judged(gates(first, second), {"messaging"})) == 1


def test_a_service_this_change_does_not_release_is_not_warned() -> None:
    """The pack sees every gate, released or not (no old state reaches it): only the services the
    harness says this change releases (``releasedServices``) are judged."""
    tcp_only = gates(rendered("messaging"), rendered("meetings-media"))
    assert [urn for _, urn in weakly_judged(tcp_only, {"meetings-media"})] == [
        "urn:meetings-media-wave-1-gate"
    ]
    assert weakly_judged(tcp_only, set()) == []


# --- the mandatory rule: no talking it around ----------------------------------------------------


def test_an_empty_metrics_list_is_refused() -> None:
    assert "rollout.analysis.metrics: no metric" in refusal(declared(metrics=[]))


@pytest.mark.parametrize("bake", [0, 30, 59])
def test_a_bake_shorter_than_four_scrapes_is_refused(bake: int) -> None:
    message = refusal(declared(bake_s=bake))
    assert f"rollout.analysis.bake_s: {bake} s is shorter than 4 scrapes of 15 s (60 s)" in message


def test_a_slow_probe_job_needs_a_longer_bake() -> None:
    spec = declared(bake_s=60)
    spec["targets"][0]["check"]["timeout_s"] = 30  # scraped every 31 s
    assert "4 scrapes of 31 s (124 s)" in refusal(spec)


@pytest.mark.parametrize("timeout", [0.5, 2, 14, 14.2, 30, 60])
def test_the_pack_knows_the_probe_jobs_scrape_interval_as_the_monitoring_writes_it(timeout: float) -> None:
    interval, _ = scrape_timing(HealthCheck(protocol="tcp", port=443, timeout_s=timeout), SCRAPE_INTERVAL_S)
    assert f"{_probe_interval(timeout, SCRAPE_INTERVAL_S)}s" == interval


@pytest.mark.parametrize(
    "query",
    [
        "vector(0)",
        "1",
        "0.001 # " + 'calls_total{instance=~"$instances"}',
        'label_replace(vector(0), "x", "$instances", "", "")',
        'scalar(vector(1)) * 0 + count(up{job="app-$service"} offset 5m)',
    ],
)
def test_a_query_that_reads_no_series_of_its_side_is_refused(query: str) -> None:
    message = refusal(declared(metrics=[metric(query)]))
    assert "rollout.analysis.metrics[0].query" in message
    assert "reads no series at all" in message or "do not select one side" in message


@pytest.mark.parametrize(
    "matcher",
    ['instance!~"$instances"', 'instance=~"$instances|.*"', 'pod=~"$instances"', 'instance="$instances"'],
)
def test_a_selector_that_does_not_keep_exactly_its_side_is_refused(matcher: str) -> None:
    message = refusal(declared(metrics=[metric(f"sum(rate(errors_total{{{matcher}}}[$window]))")]))
    assert "errors_total do not select one side" in message


def test_a_product_with_zero_is_refused() -> None:
    query = 'sum(rate(errors_total{instance=~"$instances"}[$window])) * 0'
    assert "multiplies by 0" in refusal(declared(metrics=[metric(query)]))


def test_a_constant_requests_query_is_refused() -> None:
    assert "rollout.analysis.requests: reads no series" in refusal(declared(requests="vector(1000)"))


def test_another_services_job_is_refused() -> None:
    query = 'sum(rate(errors_total{job="app-messaging",instance=~"$instances"}[$window]))'
    assert "job app-messaging is no job of meetings-signalling" in refusal(declared(metrics=[metric(query)]))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            'sum(rate(http_request_duration_seconds_sum{instance=~"$instances"}[$window])) / '
            'sum(rate(http_request_duration_seconds_count{instance=~"$instances"}[$window]))',
            "without a percentile",
        ),
        (
            'avg(avg_over_time(probe_duration_seconds{instance=~"$instances"}[$window]))',
            "without a percentile",
        ),
        (
            'histogram_quantile(0.5, sum by (le) (rate(latency_bucket{instance=~"$instances"}[$window])))',
            "the percentile 0.5 is not a number from 0.9 to 1",
        ),
    ],
)
def test_a_latency_without_a_high_percentile_is_refused(query: str, expected: str) -> None:
    assert expected in refusal(declared(metrics=[metric(query)]))


def test_a_metric_without_limits_and_no_absolute_limit_at_all_are_refused() -> None:
    message = refusal(declared(metrics=[metric(REQUESTS, max_ratio=1.5)]))
    assert "no metric has an absolute limit (max)" in message
    none = metric(REQUESTS, tolerance=0.1)
    none["max"] = None
    assert "judges nothing" in refusal(declared(metrics=[none]))


def test_too_few_requests_are_refused() -> None:
    assert "min_requests: 1 is fewer than 10" in refusal(declared(min_requests=1))


def test_an_unreadable_create_is_left_to_the_gating_rule() -> None:
    assert read_gate("not json") is None and read_gate({"format": "x"}) is None


# --- PromQL, read lexically ----------------------------------------------------------------------


def test_selectors_and_quantiles_are_found_through_grouping_and_durations() -> None:
    query = read_query(
        'histogram_quantile(0.95, sum by (le, pod) (rate(x_bucket{job="app-$service",instance=~"$instances"}'
        "[$window] offset 1m))) # latency"
    )
    assert [s.name for s in query.selectors] == ["x_bucket"]
    assert ("histogram_quantile", "0.95") in query.functions
    assert query.selectors[0].matchers == (("job", "=", "app-$service"), ("instance", "=~", "$instances"))


def test_parameters_have_sane_defaults() -> None:
    assert (PARAMS.scrape_interval_s, PARAMS.min_scrapes, PARAMS.min_requests) == (15, 4, 10)
    assert math.isclose(PARAMS.min_quantile, 0.9)


def test_the_analyzer_request_carries_no_old_state_at_the_pinned_sdk() -> None:
    """Why the pack is told what a change releases through config (releasedServices, derived by the
    harness) rather than finding it out (docs/policies.md): the pinned SDK's AnalyzeRequest and
    AnalyzeStackRequest (pulumi/pulumi proto/pulumi/analyzer.proto, SDK 3.272.0) have no field for the
    deployed state. A version that adds one fails here, and the rule could then read the old side itself."""
    fields = [f.name for f in analyzer_pb2.AnalyzeRequest.DESCRIPTOR.fields]
    assert fields == ["type", "properties", "urn", "name", "options", "provider"]
    # AnalyzeStack's resources: the same, and where each sits in the graph; nothing of the old state.
    fields = [f.name for f in analyzer_pb2.AnalyzerResource.DESCRIPTOR.fields]
    assert fields == [
        "type",
        "properties",
        "urn",
        "name",
        "options",
        "provider",
        "parent",
        "dependencies",
        "propertyDependencies",
    ]
    assert [f.name for f in analyzer_pb2.AnalyzeStackRequest.DESCRIPTOR.fields] == ["resources"]


@pytest.mark.parametrize("stack", ["dc1", "dc2"])
def test_the_examples_declared_queries_read_the_job_the_generated_monitoring_scrapes(stack: str) -> None:
    """meetings-signalling's analysis selects ``job="app-$service"``: the generated Prometheus config of
    each stack scrapes exactly that job, on the catalog's port, from the service's instances."""
    jobs = {
        job["job_name"]: job
        for job in yaml.safe_load(generate(REPO, stack)["prometheus.yml"])["scrape_configs"]
    }
    spec = rendered("meetings-signalling")
    queries = [spec["analysis"]["requests"], *(m["query"] for m in spec["analysis"]["metrics"])]
    read = [
        value.replace("$service", "meetings-signalling")
        for query in queries
        for selector in read_query(query).selectors
        for label, _, value in selector.matchers
        if label == "job"
    ]
    assert read and set(read) == {"app-meetings-signalling"}
    job = jobs["app-meetings-signalling"]
    assert [sd["port"] for sd in job["openstack_sd_configs"]] == [9464]
    assert f"{stack};meetings-signalling;(?:sip|api)" in job["relabel_configs"][0]["regex"]


def test_the_preview_names_the_examples_metrics_and_their_limits() -> None:
    analysis = GateSpec.from_json(json.dumps(rendered("meetings-signalling"))).analysis
    assert analysis is not None
    summary = analysis.summary()
    assert "judged on call-error-ratio, call-latency-p95 (new pods vs unchanged ones, at least 200" in summary
    assert "call-error-ratio fails when new > old + 0.01 or new > 0.02" in summary
    assert (
        "call-latency-p95 fails when new > 1.5 x old or new > 0.5 (differences up to 0.01 ignored)" in summary
    )


@pytest.mark.parametrize(("timing", "interval"), [({}, SCRAPE_INTERVAL_S), ({"probe_interval_s": 30}, 30)])
def test_the_pack_judges_bakes_against_the_datacenters_own_scrape_interval(
    timing: dict[str, int], interval: int
) -> None:
    """A datacenter that scrapes every 30 s (its stack file's monitoring.timing) holds half the samples
    in a bake: the pack is told that datacenter's interval, not the default's."""
    datacenter = {"name": "dc1", "monitoring": {"timing": timing}}
    config = derived_config({"stack": "dc1", "datacenter": datacenter, "services": {}}, {})
    assert config["release-analysis-can-judge"] == {"scrapeIntervalS": interval}
