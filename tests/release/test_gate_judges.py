"""The gate end to end: the probe command a gate runs, its spec as JSON, a health endpoint and a scripted
Prometheus HTTP API on 127.0.0.1. A wave passes only when its instances serve and its metrics pass."""

from __future__ import annotations

import io
import json
from dataclasses import replace

import pytest

from tests.release.scripted_prometheus import scripted, serving
from webex_cloud.exit_codes import ExitCode
from webex_cloud.release.analysis import AnalysisSpec, MetricSpec
from webex_cloud.release.probe import Check, GateSpec, Target, main, run_gate

NEW = "dc1-svc-pod-0-app-0"
OLD = "dc1-svc-pod-1-app-0"
ERRORS = MetricSpec(
    "error-ratio", 'sum(rate(errors{instance=~"$instances"}[$window]))', max=0.05, max_increase=0.01
)


def _spec(port: int, prometheus: tuple[str, ...]) -> GateSpec:
    check = Check("http", port, "/healthz", 200, 1.0, 0.05, 2)
    analysis = AnalysisSpec(
        prometheus=prometheus,
        bake_s=0.3,
        new_instances=(NEW,),
        new_pods=("svc-pod-0",),
        old_instances=(OLD,),
        old_pods=("svc-pod-1",),
        requests='sum(increase(requests{instance=~"$instances"}[$window]))',
        min_requests=100,
        metrics=(ERRORS,),
    )
    target = Target("svc-pod-0", "svc-pod-0-app-0", "app", "127.0.0.1", check)
    return GateSpec("dc1", "svc", 1, 2, 1, ("svc-pod-0",), 5.0, (target,), analysis)


def test_a_wave_that_serves_and_is_as_good_as_the_old_pods_passes_its_gate() -> None:
    with serving(scripted(new_errors=0.004, old_errors=0.003, new=NEW)) as (port, asked):
        spec = _spec(port, (f"http://127.0.0.1:{port}",))
        out = io.StringIO()
        assert run_gate(spec, stream=out)
    log = out.getvalue()
    assert "baking 0.3s, then judging 1 metrics (error-ratio) against old pods (svc-pod-1)" in log
    assert "error-ratio: pass - new 0.004, old 0.003" in log
    assert "wave 1/2 PASSED: pods svc-pod-0 serve and their metrics pass" in log
    # Each side asked once for its requests and once per metric, over the bake window, at one moment.
    queries = [a["query"] for a in asked]
    assert 'sum(rate(errors{instance=~"dc1-svc-pod-0-app-0"}[1s]))' in queries
    assert 'sum(rate(errors{instance=~"dc1-svc-pod-1-app-0"}[1s]))' in queries
    assert len(queries) == 4 and len({a["time"] for a in asked}) == 1


def test_a_wave_that_serves_but_fails_five_percent_of_calls_fails_its_gate(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with serving(scripted(new_errors=0.05, old_errors=0.003, new=NEW)) as (port, _):
        code = main([_spec(port, (f"http://127.0.0.1:{port}",)).to_json()])
    out = capsys.readouterr().out
    assert code == ExitCode.BLOCKING
    assert "verdict: FAIL" in out and "error-ratio: new 0.05 exceeds old 0.003 by 0.047" in out
    assert "wave 1/2 FAILED: the analysis says fail" in out


def test_without_prometheus_the_wave_cannot_be_judged_and_its_gate_fails(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with serving(None) as (port, _):
        # The first node does not listen, the second answers 404 to the query API: neither can judge.
        code = main([_spec(port, ("http://127.0.0.1:1", f"http://127.0.0.1:{port}")).to_json()])
    out = capsys.readouterr().out
    assert code == ExitCode.BLOCKING
    assert "verdict: CANNOT-JUDGE" in out
    assert "http://127.0.0.1:1: unreachable" in out and "HTTP 404" in out


def test_a_wave_that_does_not_serve_is_not_baked() -> None:
    with serving(scripted(0.0, 0.0, new=NEW)) as (port, asked):
        spec = _spec(port, (f"http://127.0.0.1:{port}",))
        broken = replace(
            spec, targets=(replace(spec.targets[0], check=replace(spec.targets[0].check, path="/x")),)
        )
        assert not run_gate(broken, deadline_s=0.3, stream=io.StringIO())
    assert asked == []


def test_a_spec_without_analysis_reads_and_writes_as_before() -> None:
    spec = _spec(80, ("http://127.0.0.1:9090",))
    plain = replace(spec, analysis=None)
    assert '"analysis"' not in plain.to_json()
    assert GateSpec.from_json(plain.to_json()) == plain
    assert GateSpec.from_json(spec.to_json()) == spec


def test_a_spec_whose_analysis_is_malformed_is_unusable_input(capsys: pytest.CaptureFixture[str]) -> None:
    document = json.loads(_spec(80, ("http://127.0.0.1:9090",)).to_json())
    del document["analysis"]["metrics"]
    assert main([json.dumps(document)]) == ExitCode.INPUT
    assert "health gate: unusable gate spec or address map" in capsys.readouterr().err
