"""The judgement of a wave on synthetic readings, and the reading of Prometheus' answers.

The verdicts a person relies on: a good wave passes, a wave whose error ratio or latency is worse than the
old pods' fails, and a wave nothing can judge (no Prometheus, no series, too little traffic) does not pass.
"""

from __future__ import annotations

import json

import pytest

from webex_cloud.release.analysis import (
    CANNOT_JUDGE,
    FAIL,
    PASS,
    AnalysisSpec,
    MetricSpec,
    Reading,
    Side,
    analyse,
    describe,
    judge,
    prometheus_query,
    read_answer,
    render_query,
)

ERRORS = MetricSpec(
    "error-ratio", 'sum(rate(errors{instance=~"$instances"}[$window]))', max=0.05, max_increase=0.01
)
LATENCY = MetricSpec(
    "latency-p95", 'max(p95{instance=~"$instances"})', max=2.0, max_ratio=1.5, tolerance=0.005
)


def _spec(*, old: bool = True) -> AnalysisSpec:
    return AnalysisSpec(
        prometheus=("http://127.0.0.1:1",),
        bake_s=60,
        new_instances=("dc1-svc-pod-0-app-0",),
        new_pods=("svc-pod-0",),
        old_instances=("dc1-svc-pod-1-app-0", "dc1-svc-pod-2-app-0") if old else (),
        old_pods=("svc-pod-1", "svc-pod-2") if old else (),
        requests='sum(increase(requests{instance=~"$instances"}[$window]))',
        min_requests=100,
        metrics=(ERRORS, LATENCY),
    )


def _side(requests: float | None, errors: float | None, latency: float | None) -> Side:
    def reading(value: float | None) -> Reading:
        return Reading(value) if value is not None else Reading(None, "no series")

    return Side(reading(requests), {ERRORS.name: reading(errors), LATENCY.name: reading(latency)})


def test_a_wave_as_good_as_the_old_pods_passes() -> None:
    verdict = judge(_spec(), _side(600, 0.004, 0.20), _side(1200, 0.003, 0.18))
    assert verdict.outcome == PASS and verdict.passed
    assert (verdict.requests_new, verdict.requests_old) == (600, 1200)
    assert [(m.name, m.outcome, m.new, m.old) for m in verdict.metrics] == [
        ("error-ratio", PASS, 0.004, 0.003),
        ("latency-p95", PASS, 0.20, 0.18),
    ]


def test_an_error_ratio_more_than_one_point_above_the_old_pods_fails() -> None:
    verdict = judge(_spec(), _side(600, 0.05, 0.20), _side(1200, 0.003, 0.18))
    assert verdict.outcome == FAIL
    assert [m.outcome for m in verdict.metrics] == [FAIL, PASS]
    assert any(
        "error-ratio: new 0.05 exceeds old 0.003 by 0.047, more than 0.01" in r for r in verdict.reasons
    )


def test_a_p95_latency_above_one_and_a_half_times_the_old_pods_fails() -> None:
    verdict = judge(_spec(), _side(600, 0.003, 0.40), _side(1200, 0.003, 0.18))
    assert verdict.outcome == FAIL
    assert any("latency-p95: new 0.4 is 2.22 x old 0.18, more than 1.5 x" in r for r in verdict.reasons)


def test_a_difference_within_the_tolerance_is_noise() -> None:
    # 4 ms against 1 ms is four times slower, and still nothing a user feels.
    assert judge(_spec(), _side(600, 0.003, 0.004), _side(1200, 0.003, 0.001)).outcome == PASS


def test_fewer_requests_than_the_minimum_cannot_judge_on_either_side() -> None:
    new_quiet = judge(_spec(), _side(40, 0.003, 0.2), _side(1200, 0.003, 0.2))
    old_quiet = judge(_spec(), _side(600, 0.003, 0.2), _side(99, 0.003, 0.2))
    assert new_quiet.outcome == old_quiet.outcome == CANNOT_JUDGE
    assert "the new pods had 40 requests in the window, fewer than the 100" in " ".join(new_quiet.reasons)
    assert "the old pods had 99 requests" in " ".join(old_quiet.reasons)
    # A bad ratio measured on too few requests is noise, not evidence: still "cannot judge".
    assert judge(_spec(), _side(5, 0.5, 0.2), _side(1200, 0.003, 0.2)).outcome == CANNOT_JUDGE


def test_no_series_cannot_judge_and_does_not_pass() -> None:
    verdict = judge(_spec(), _side(600, None, 0.2), _side(1200, 0.003, 0.2))
    assert verdict.outcome == CANNOT_JUDGE and not verdict.passed
    assert "error-ratio: cannot judge the new pods: no series" in verdict.reasons
    missing_old = judge(_spec(), _side(600, 0.003, 0.2), _side(1200, None, 0.2))
    assert missing_old.outcome == CANNOT_JUDGE


def test_the_last_wave_is_judged_on_absolute_limits() -> None:
    last = _spec(old=False)
    assert judge(last, _side(600, 0.04, 1.9), None).outcome == PASS
    above = judge(last, _side(600, 0.06, 1.9), None)
    assert above.outcome == FAIL
    assert "error-ratio: new 0.06 exceeds the limit 0.05" in above.reasons
    assert above.requests_old is None and above.metrics[0].old is None


def test_a_metric_with_no_absolute_limit_is_not_judged_on_the_last_wave() -> None:
    relative = MetricSpec("errors", 'e{pod=~"$pods"}', max_increase=0.01)
    spec = AnalysisSpec(("u",), 60, ("n",), ("p",), (), (), "r", 1, (relative, ERRORS))
    verdict = judge(spec, Side(Reading(10), {"errors": Reading(9.0), ERRORS.name: Reading(0.0)}), None)
    assert verdict.outcome == PASS
    assert "errors: not judged: no old pods left to compare with and no absolute limit" in verdict.reasons
    alone = AnalysisSpec(("u",), 60, ("n",), ("p",), (), (), "r", 1, (relative,))
    assert judge(alone, Side(Reading(10), {"errors": Reading(9.0)}), None).outcome == CANNOT_JUDGE


def test_queries_name_each_side_and_the_bake_window() -> None:
    text = render_query(
        'sum(rate(x{instance=~"$instances",pod=~"$pods",dc="$datacenter",svc="$service"}[$window]))',
        instances=("dc1-a-0", "dc1-a-1"),
        pods=("a-pod-0",),
        window_s=90.5,
        service="svc",
        datacenter="dc1",
    )
    assert text == 'sum(rate(x{instance=~"dc1-a-0|dc1-a-1",pod=~"a-pod-0",dc="dc1",svc="svc"}[91s]))'


def _vector(*values: str) -> bytes:
    result = [{"metric": {"k": str(i)}, "value": [1700000000.5, v]} for i, v in enumerate(values)]
    return json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}}).encode()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (_vector("0.25"), Reading(0.25)),
        (b'{"status":"success","data":{"resultType":"scalar","result":[1700000000,"3"]}}', Reading(3.0)),
        (_vector(), Reading(None, "no series (nothing scraped for these instances in the window?)", True)),
        (
            _vector("1", "2"),
            Reading(None, "2 series where one was expected: aggregate the query (sum, avg, max)"),
        ),
        (_vector("NaN"), Reading(None, "the value is NaN (a division by zero: no samples in the window?)")),
        (
            b'{"status":"error","errorType":"bad_data","error":"parse error at char 3"}',
            Reading(None, "the query failed: bad_data: parse error at char 3"),
        ),
        (b"<html>", Reading(None, "Prometheus answered something that is not JSON")),
    ],
)
def test_an_answer_of_the_query_api_reads_as_one_value_or_why_not(body: bytes, expected: Reading) -> None:
    assert read_answer(body) == expected


def test_an_unreachable_prometheus_cannot_judge() -> None:
    # Port 1 on loopback: nothing listens, the connection is refused at once.
    query = prometheus_query(("http://127.0.0.1:1",), at=1700000000.0, timeout_s=2)
    verdict = analyse(_spec(), query, service="svc", datacenter="dc1")
    assert verdict.outcome == CANNOT_JUDGE
    assert all(m.outcome == CANNOT_JUDGE for m in verdict.metrics)
    assert any("Prometheus did not answer: http://127.0.0.1:1: unreachable" in r for r in verdict.reasons)
    assert describe(verdict)[0].startswith("verdict: CANNOT-JUDGE (requests in the window: new -, old -)")


def test_old_pods_with_no_series_at_all_are_a_first_deploy_judged_on_absolute_limits() -> None:
    # A service's first deploy creates its pods wave by wave: the "old" pods of wave 1 do not exist yet.
    nothing = Reading(None, "no series", no_series=True)
    absent = Side(nothing, {ERRORS.name: nothing, LATENCY.name: nothing})
    verdict = judge(_spec(), _side(600, 0.004, 0.2), absent)
    assert verdict.outcome == PASS and verdict.requests_old is None
    assert verdict.reasons[0].startswith("old pods: no series of their requests (not created yet")
    assert judge(_spec(), _side(600, 0.06, 0.2), absent).outcome == FAIL
    # Old pods that exist but answer with an error are no first deploy: that cannot be judged.
    broken = Side(
        Reading(None, "the query failed: timeout"), {ERRORS.name: Reading(0.0), LATENCY.name: Reading(0.1)}
    )
    assert judge(_spec(), _side(600, 0.004, 0.2), broken).outcome == CANNOT_JUDGE
