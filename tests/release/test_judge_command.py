"""`python -m webex_cloud judge`: the gate's judgement of a wave of the example catalog, on demand, against
a scripted Prometheus on 127.0.0.1; its exit codes and its refusals of unusable input."""

from __future__ import annotations

import json

import pytest

from tests.conftest import REPO, ProjectCopy
from tests.release.scripted_prometheus import scripted, serving
from webex_cloud import cli
from webex_cloud.exit_codes import ExitCode

WAVE_1 = "dc1-meetings-media-pod-0-"
PROBES = "sum(count_over_time(probe_success"


def _judge(*options: str, project: str = str(REPO)) -> int:
    return cli.main(
        ["judge", "--project", project, "--stack", "dc1", "--service", "meetings-media", *options]
    )


def test_a_good_wave_passes_and_the_numbers_behind_it_are_printed(capsys: pytest.CaptureFixture[str]) -> None:
    with serving(scripted(0.0, 0.002, new=WAVE_1, requests=PROBES)) as (port, asked):
        code = _judge("--wave", "1", "--prometheus", f"http://127.0.0.1:{port}", "--at", "1700000000")
    out = capsys.readouterr().out
    assert code == ExitCode.OK, out
    assert out.startswith(
        "dc1/meetings-media wave 1/4: new pods meetings-media-pod-0; old pods meetings-media-pod-1, "
        "meetings-media-pod-2, meetings-media-pod-3; window 300s ending 2023-11-14T22:13:20Z"
    )
    assert "verdict: PASS (requests in the window: new 500, old 900)" in out
    assert "probe-failure-ratio: pass - new 0, old 0.002" in out
    # The default judgement reads the blackbox probes of the service's own jobs, over the bake window.
    queries = [a["query"] for a in asked]
    assert any(
        'probe_success{job=~"probe-meetings-media-mixer|probe-meetings-media-relay",'
        'instance=~"dc1-meetings-media-pod-0-mixer-0|dc1-meetings-media-pod-0-mixer-1|'
        'dc1-meetings-media-pod-0-relay-0"}[300s]' in q
        for q in queries
    )
    assert {a["time"] for a in asked} == {"1700000000.000"}


def test_a_bad_wave_fails_with_exit_1_and_says_why_in_json(capsys: pytest.CaptureFixture[str]) -> None:
    with serving(scripted(0.05, 0.0, new="dc1-meetings-media-pod-1-", requests=PROBES)) as (port, asked):
        code = _judge(
            "--wave", "2", "--prometheus", f"http://127.0.0.1:{port}", "--json", "--window-s", "120"
        )
    assert code == ExitCode.BLOCKING
    document = json.loads(capsys.readouterr().out)
    assert (document["wave"], document["outcome"]) == (2, "fail")
    failure = next(m for m in document["metrics"] if m["name"] == "probe-failure-ratio")
    assert (failure["new"], failure["old"], failure["outcome"]) == (0.05, 0.0, "fail")
    # Wave 1's pod is changed already: neither side of wave 2 reads it.
    assert all("pod-0" not in a["query"] and "[120s]" in a["query"] for a in asked)


def test_the_last_wave_is_judged_on_absolute_limits(capsys: pytest.CaptureFixture[str]) -> None:
    with serving(scripted(0.02, 0.0, new="dc1-meetings-media-pod-3-", requests=PROBES)) as (port, _):
        code = _judge("--wave", "4", "--prometheus", f"http://127.0.0.1:{port}")
    out = capsys.readouterr().out
    assert code == ExitCode.BLOCKING
    assert "old pods none left (absolute limits only)" in out
    assert "probe-failure-ratio: new 0.02 exceeds the limit 0.01" in out


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (("--wave", "5"), "--wave 5: meetings-media is released in waves 1 to 4 in dc1"),
        (("--wave", "0"), "--wave 0: meetings-media is released in waves 1 to 4 in dc1"),
    ],
)
def test_a_wave_that_does_not_exist_is_unusable_input(
    capsys: pytest.CaptureFixture[str], options: tuple[str, ...], says: str
) -> None:
    assert _judge(*options) == ExitCode.INPUT
    assert says in capsys.readouterr().err


def test_an_unknown_service_or_a_stack_without_monitoring_is_unusable_input(
    capsys: pytest.CaptureFixture[str], project: ProjectCopy
) -> None:
    assert cli.main(["judge", "--stack", "dc1", "--service", "nope", "--wave", "1"]) == ExitCode.INPUT
    assert "--service 'nope': not deployed in dc1; services there: meetings-media" in capsys.readouterr().err
    project.edit_datacenter("dc1", lambda dc: dc.pop("monitoring"))
    assert _judge("--wave", "1", project=str(project.root)) == ExitCode.INPUT
    err = capsys.readouterr().err
    assert "stacks/Pulumi.dc1.yaml: config.webex-cloud:datacenter.monitoring: not declared" in err
    assert "give --prometheus URL" in err
