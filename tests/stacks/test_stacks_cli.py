"""`python -m webex_cloud stacks`: every stack file's wave and runner, validated, in deploy order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ProjectCopy
from webex_cloud.commands.stacks import main
from webex_cloud.config.models import MAX_WAVES
from webex_cloud.exit_codes import ExitCode
from webex_cloud.facts.rollout import DEPLOY_JOB_LIMIT_MINUTES, DEPLOY_STEPS_BEFORE_UP_S, wave_count
from webex_cloud.release.rollout import waves

BEFORE_UP = DEPLOY_STEPS_BEFORE_UP_S // 60  # install, CLI, images (their import: 30), preview, drift


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_example_stacks_list_with_their_wave_and_runner(
    project: ProjectCopy, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--json", "--project", str(project.root))
    assert code == ExitCode.OK
    # meetings-media is the slowest: 4 pods one at a time, each wave up to 30 min delete + 30 min create +
    # a 600 s gate = 280 min, twice (the release, then its rollback in the same job), plus 20 min before
    # `up` and 30 for a new image's import (webex_cloud/facts/rollout.py); the canary's bake adds its
    # 15 min. The widest moment: one pod of every service at once, its instances and attachments
    # (media 3, signalling 3, messaging 3+1, recording 2+2, telepresence 1, which runs in dc1 only).
    assert json.loads(out) == [
        {
            "stack": "dc1",
            "wave": 1,
            "runner": "webex-ops-dc1",
            "timeout_minutes": 625,
            "parallel": 15,
            "bake_s": 900,
        },
        {
            "stack": "dc2",
            "wave": 2,
            "runner": "webex-ops-dc2",
            "timeout_minutes": 610,
            "parallel": 14,
            "bake_s": 0,
        },
    ]
    code, out, _ = run(capsys, "--project", str(project.root))
    assert out.splitlines()[1:] == [
        "dc1       1     900  625 min        15  webex-ops-dc1",
        "dc2       2       0  610 min        14  webex-ops-dc2",
    ]


def test_waves_come_in_order_with_stacks_in_natural_order(
    twenty: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "--waves", "--json", "--project", str(twenty))
    assert code == ExitCode.OK
    waves = json.loads(out)
    assert [wave["wave"] for wave in waves] == [1, 2, 3, 4]
    assert [[s["stack"] for s in wave["stacks"]] for wave in waves] == [
        ["dc1"],
        ["dc2", "dc3", "dc4", "dc5", "dc6", "dc7", "dc8"],
        ["dc9", "dc10", "dc11", "dc12", "dc13", "dc14"],
        ["dc15", "dc16", "dc17", "dc18", "dc19", "dc20"],
    ]
    _, text, _ = run(capsys, "--waves", "--project", str(twenty))
    assert text.splitlines()[0] == "wave 1: dc1 (runner webex-ops-dc1)"
    assert text.splitlines()[2].startswith("wave 3: dc9 (runner webex-ops-dc9), dc10 (runner webex-ops-dc10)")


def test_github_outputs_fill_every_wave_job_and_leave_the_rest_empty(
    twenty: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run(capsys, "--github-output", "--project", str(twenty))
    outputs = dict(line.split("=", 1) for line in out.splitlines())
    assert set(outputs) == {"stacks", "waves", *(f"wave_{k}" for k in range(1, MAX_WAVES + 1))}
    assert outputs["waves"] == "4" and len(json.loads(outputs["stacks"])) == 20
    assert [len(json.loads(outputs[f"wave_{k}"])) for k in range(1, MAX_WAVES + 1)] == [
        1,
        7,
        6,
        6,
        0,
        0,
        0,
        0,
    ]


def test_a_missing_deploy_setting_names_the_file_and_field(
    project: ProjectCopy, capsys: pytest.CaptureFixture[str]
) -> None:
    project.edit_datacenter("dc2", lambda dc: dc.pop("deploy"))
    code, out, err = run(capsys, "--project", str(project.root))
    assert code == ExitCode.INPUT and out == ""
    assert "stacks/Pulumi.dc2.yaml: config.webex-cloud:datacenter.deploy: required field is missing" in err


@pytest.mark.parametrize(
    ("deploy", "message"),
    [
        (
            {"wave": 9, "runner": "r"},
            f"wave 9 has no job: .github/workflows/deploy.yml runs waves 1..{MAX_WAVES}",
        ),
        ({"wave": 0, "runner": "r"}, "deploy.wave: Input should be greater than or equal to 1"),
        ({"wave": 2, "runner": "two words"}, "deploy.runner: String should match pattern"),
        ({"wave": 2, "runner": "r", "lane": 1}, "deploy.lane: unknown key 'lane'"),
    ],
)
def test_an_invalid_deploy_setting_is_refused(
    project: ProjectCopy, capsys: pytest.CaptureFixture[str], deploy: dict[str, object], message: str
) -> None:
    project.edit_datacenter("dc2", lambda dc: dc.update(deploy=deploy))
    code, _, err = run(capsys, "--project", str(project.root))
    assert code == ExitCode.INPUT
    assert "stacks/Pulumi.dc2.yaml: config.webex-cloud:datacenter.deploy." in err and message in err


@pytest.mark.parametrize(
    ("stack", "wave", "refused"),
    [
        # dc2 moved to wave 3: wave 2's job would be skipped, and GitHub skips every job needing it.
        ("dc2", 3, {"dc2": "wave 2 has no stack but this stack is in wave 3"}),
        # dc1 moved to wave 2: no canary; both stacks of the first used wave are named.
        ("dc1", 2, {"dc1": "wave 1 has no stack but", "dc2": "wave 1 has no stack but"}),
    ],
)
def test_a_gap_in_the_waves_is_refused_on_the_stacks_after_it(
    project: ProjectCopy, capsys: pytest.CaptureFixture[str], stack: str, wave: int, refused: dict[str, str]
) -> None:
    project.edit_datacenter(stack, lambda dc: dc["deploy"].update(wave=wave))
    code, _, err = run(capsys, "--project", str(project.root))
    assert code == ExitCode.INPUT
    problems = [line for line in err.splitlines() if line.startswith("  - ")]
    assert len(problems) == len(refused)
    for name, message in refused.items():
        assert f"stacks/Pulumi.{name}.yaml: config.webex-cloud:datacenter.deploy.wave: {message}" in err


def test_no_stack_file_at_all(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "stacks").mkdir()
    code, _, err = run(capsys, "--project", str(tmp_path))
    assert code == ExitCode.INPUT and "add one as stacks/Pulumi.<stack>.yaml" in err


@pytest.mark.parametrize("runner", ["webex-ops-dc1", "webex-ops", "my-laptop"])
def test_a_stack_deploys_only_on_its_own_datacenters_runner(
    project: ProjectCopy, capsys: pytest.CaptureFixture[str], runner: str
) -> None:
    """dc2's file naming dc1's runner (or any other label) would run dc2's deployment, with its
    secrets, inside another datacenter: the listing refuses it and says which label to use."""
    project.edit_datacenter("dc2", lambda dc: dc.update(deploy={"wave": 2, "runner": runner}))
    code, out, err = run(capsys, "--project", str(project.root))
    assert code == ExitCode.INPUT and out == ""
    assert "stacks/Pulumi.dc2.yaml: config.webex-cloud:datacenter.deploy.runner:" in err
    assert "set runner: webex-ops-dc2" in err


def _timeouts(capsys: pytest.CaptureFixture[str], root: Path) -> dict[str, int]:
    code, out, err = run(capsys, "--json", "--project", str(root))
    assert code == ExitCode.OK, err
    return {entry["stack"]: entry["timeout_minutes"] for entry in json.loads(out)}


def test_the_timeout_grows_with_the_slowest_release_of_the_stacks_that_run_it(
    project: ProjectCopy, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _timeouts(capsys, project.root)
    # telepresence-gateway runs in dc1 only: 2 pods one at a time; a 5400 s gate makes each of its
    # 2 waves 60 + 90 min, the slowest release of dc1 (300 min, media's is 280), twice with the rollback,
    # plus dc1's 15 min bake, and leaves dc2 alone.
    project.edit("catalog/telepresence-gateway.yaml", lambda s: s.update(rollout={"deadline_s": 5400}))
    after = _timeouts(capsys, project.root)
    assert after == {"dc1": BEFORE_UP + 2 * 2 * (60 + 90) + 15, "dc2": before["dc2"]}


def test_a_release_longer_than_the_job_limit_is_refused_with_the_way_out(
    project: ProjectCopy, capsys: pytest.CaptureFixture[str]
) -> None:
    # 8 pods one at a time, each wave 60 min of replacement and a 7200 s gate: 1440 min, twice with the
    # rollback, plus the steps before `up`.
    project.edit(
        "catalog/meetings-media.yaml",
        lambda s: s.update(rollout={"deadline_s": 7200}) or s["pods"].update(count=8),
    )
    code, out, err = run(capsys, "--github-output", "--project", str(project.root))
    assert code == ExitCode.INPUT and out == ""
    assert "catalog/meetings-media.yaml: rollout: " in err
    assert f"more than the limit of {DEPLOY_JOB_LIMIT_MINUTES} min" in err
    assert "raise rollout.max_unavailable or lower rollout.deadline_s" in err
    # Four pods at a time: 2 x 180 min, twice, fits.
    project.edit("catalog/meetings-media.yaml", lambda s: s["rollout"].update(max_unavailable=4))
    assert _timeouts(capsys, project.root)["dc1"] == BEFORE_UP + 2 * 2 * (60 + 120) + 15


@pytest.mark.parametrize(("pods", "max_unavailable"), [(1, 1), (4, 1), (4, 3), (5, 2), (3, 64)])
def test_the_wave_count_is_the_release_waves(pods: int, max_unavailable: int) -> None:
    assert wave_count(pods, max_unavailable) == len(waves(pods, max_unavailable))
