"""The generated files checked by the tools that read them, like code: ``promtool check config``,
``promtool check rules``, ``promtool test rules`` (every alert fires on its synthetic series and stays
quiet on the others) and ``amtool check-config``, on every stack — Debian bookworm's prometheus 2.42.0
and prometheus-alertmanager 0.25.0, which ``tools/monitoring/install.sh`` installs (scripts/test.sh runs
it in the full tier). The fast tier skips these when promtool is not installed; the full tier fails."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, ProjectCopy
from tests.monitoring.tools import require
from webex_cloud.commands.monitoring import generate, write_folder
from webex_cloud.monitoring_ops import check

STACKS = ["dc1", "dc2"]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    require("promtool", "amtool")
    return tmp_path


def test_the_pinned_versions_are_the_installed_ones(folder: Path) -> None:
    from webex_cloud.monitoring import contract

    shown = subprocess.run(["promtool", "--version"], capture_output=True, text=True, check=False)
    assert f"version {contract.PROMETHEUS_VERSION}" in shown.stdout + shown.stderr
    shown = subprocess.run(["amtool", "--version"], capture_output=True, text=True, check=False)
    assert f"version {contract.ALERTMANAGER_VERSION}" in shown.stdout + shown.stderr


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_passes_promtool_and_amtool(stack: str, folder: Path) -> None:
    write_folder(folder / stack, generate(REPO, stack))
    done = check.check_folder(folder / stack)
    assert [line.split()[1:4] for line in done][:4] == [
        ["promtool", "check", "config"],
        ["promtool", "check", "rules"],
        ["promtool", "test", "rules"],
        ["amtool", "check-config", str(folder / stack / "alertmanager.yml")],
    ]


def test_a_unit_test_whose_alert_does_not_fire_as_declared_fails(folder: Path) -> None:
    """The generated unit tests can fail: an expectation that no longer matches the rule is reported."""
    write_folder(folder / "dc1", generate(REPO, "dc1"))
    rules = folder / "dc1" / "rules" / "service-messaging.rules.yml"
    # The release floor moved in the rule but not in its tests: the "fires" and "quiet" cases catch it.
    rules.write_text(rules.read_text().replace("or vector(0)) < 2", "or vector(0)) < 1"))
    with pytest.raises(check.CheckFailed, match=r"ServiceBelowReleaseFloor"):
        check.check_folder(folder / "dc1")


def test_a_route_to_an_undeclared_receiver_is_refused_by_amtool(folder: Path) -> None:
    write_folder(folder / "dc1", generate(REPO, "dc1"))
    config = folder / "dc1" / "alertmanager.yml"
    config.write_text(config.read_text().replace("- receiver: team-media", "- receiver: team-medai"))
    with pytest.raises(check.CheckFailed, match=r"amtool check-config"):
        check.check_folder(folder / "dc1")


def test_the_install_step_is_idempotent(folder: Path) -> None:
    """Run where the tools are installed (the full tier installs them first), it changes nothing."""
    done = subprocess.run(
        ["bash", str(REPO / "tools" / "monitoring" / "install.sh")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


@pytest.mark.parametrize(
    "timing",
    [
        {"probe_interval_s": 2, "pod_not_serving_s": 20, "below_floor_s": 10},
        {"probe_interval_s": 60, "pod_not_serving_s": 1200, "below_floor_s": 600},
    ],
)
def test_the_unit_tests_follow_the_stacks_alert_delays(
    folder: Path, project: ProjectCopy, timing: dict[str, int]
) -> None:
    """Each alert's synthetic cases are drawn from its `for:`: the pod alert fires after a failure longer
    than the stack's delay and not after a shorter blip, whatever the stack sets."""
    project.edit_datacenter("dc1", lambda dc: dc["monitoring"].__setitem__("timing", timing))
    write_folder(folder / "dc1", generate(project.root, "dc1"))
    check.check_folder(folder / "dc1")
