"""``release-judged-by-users`` warns the services a change releases, and no other.

The pack sees no deployed state (tests/policies/test_analysis_rules.py pins the Analyzer protocol's
fields), so ``python -m webex_cloud policy`` derives what the plan releases against the old side it is
given (``--base``: pr-check passes the base commit's plan) and hands it to the pack as config
(``releasedServices``). Nothing a pull request writes says what is released; and the mandatory
``release-analysis-can-judge`` judges every gated service whatever the change releases.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, ProjectCopy
from tests.policies.test_harness import pin_host_keys
from webex_cloud.commands import policy as policy_cli
from webex_cloud.commands.policy import OldSide
from webex_cloud.plan.document import render_plan
from webex_cloud.policy_check import PolicyRun

WARNS = "release-judged-by-users"
BLOCKS = "release-analysis-can-judge"
NEW_IMAGE = "webex-base-2026.12"


def _plans(project: ProjectCopy, folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True)
    paths = {}
    for stack in ("dc1", "dc2"):
        paths[stack] = folder / f"{stack}.json"
        paths[stack].write_text(json.dumps(render_plan(stack, project_dir=project.root)))
    return paths


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The base commit's plans: the example project as it is."""
    root = tmp_path_factory.mktemp("base")
    project = ProjectCopy(root / "project")
    pin_host_keys(project)
    _offer_new_image(project)
    return _plans(project, root / "plans")


def _offer_new_image(project: ProjectCopy) -> None:
    """A new base image pinned in the image catalog and allowed in both datacenters (what a release
    pull request lands first), used by nothing yet."""

    def pin(catalog: dict[str, Any]) -> None:
        current = next(e for e in catalog["images"] if e["name"] == "webex-base-2026.11")
        new = {**current, "name": NEW_IMAGE, "previous": "webex-base-2026.11", "sha256": "6" * 64}
        catalog["images"].append({**new, "digests": {"sha512": "6" * 128}})

    project.edit("catalog/images/images.yaml", pin)
    for stack in ("dc1", "dc2"):
        project.edit_datacenter(stack, lambda dc: dc["images"].append(NEW_IMAGE))


def _release_image(service: str) -> Callable[[ProjectCopy], None]:
    def edit(project: ProjectCopy) -> None:
        def members(doc: dict[str, Any]) -> None:
            for member in doc["pods"]["members"]:
                if member["image"] == "webex-base-2026.11":
                    member["image"] = NEW_IMAGE

        project.edit(f"catalog/{service}.yaml", members)

    return edit


def _branch(tmp_path: Path, edit: Callable[[ProjectCopy], None]) -> tuple[ProjectCopy, dict[str, Path]]:
    project = ProjectCopy(tmp_path / "project")
    pin_host_keys(project)
    _offer_new_image(project)
    edit(project)
    return project, _plans(project, tmp_path / "plans")


def _check(
    project: ProjectCopy, plans: dict[str, Path], old: OldSide, config: Path | None = None
) -> PolicyRun:
    return policy_cli.run(
        "dc1",
        plan_path=plans["dc1"],
        peer_plans=[f"dc2={plans['dc2']}"],
        project=project.root,
        pack=REPO / "policies",
        write_config=config,
        old=old,
    )


def _warned(run: PolicyRun) -> list[str]:
    return [v.resource for v in run.violations if v.policy == WARNS]


def test_a_release_of_a_tcp_only_service_is_warned_and_no_other_service(
    base: dict[str, Path], tmp_path: Path
) -> None:
    project, plans = _branch(tmp_path, _release_image("messaging"))
    config = tmp_path / "policy-config.json"
    run = _check(project, plans, OldSide(base=base["dc1"]), config)
    # messaging is judged by TCP connects alone and this change rebuilds its pods onto a new image;
    # meetings-media, recording-storage and telepresence-gateway are TCP-only too, but not released.
    assert _warned(run) == ["messaging-wave-1-gate"]
    [message] = [v.message for v in run.violations if v.policy == WARNS]
    assert "judged only by TCP connects" in message and "catalog/messaging.yaml" in message
    assert run.passed  # advisory
    # What a real `pulumi preview --policy-pack-config` is given: the same list, derived, not written.
    written = json.loads(config.read_text())[WARNS]
    assert written == {"enforcementLevel": "advisory", "releasedServices": ["messaging"]}


def test_a_change_that_releases_another_service_warns_nothing_about_the_tcp_only_ones(
    base: dict[str, Path], tmp_path: Path
) -> None:
    # meetings-signalling is released (a new image) and judged by its declared metrics: no warning,
    # and messaging & co., unchanged, are not warned either.
    project, plans = _branch(tmp_path, _release_image("meetings-signalling"))
    config = tmp_path / "policy-config.json"
    run = _check(project, plans, OldSide(base=base["dc1"]), config)
    assert _warned(run) == [] and run.violations == []
    assert run.not_applicable == []
    assert json.loads(config.read_text())[WARNS]["releasedServices"] == ["meetings-signalling"]


def test_what_a_change_releases_cannot_talk_the_mandatory_rule_around(
    base: dict[str, Path], tmp_path: Path
) -> None:
    """A change that releases nothing (the analysis alone changes: no pod is rebuilt) still ships the
    analysis the next release runs: a bake of 45 s (three scrapes) is refused, released or not."""
    project, plans = _branch(
        tmp_path,
        lambda p: p.edit(
            "catalog/meetings-signalling.yaml", lambda doc: doc["rollout"]["analysis"].update(bake_s=45)
        ),
    )
    run = _check(project, plans, OldSide(base=base["dc1"]))
    assert _warned(run) == []
    [blocked] = [v for v in run.violations if v.policy == BLOCKS]
    assert blocked.level == "mandatory" and "rollout.analysis.bake_s: 45 s" in blocked.message
    assert not run.passed


def test_without_an_old_side_the_advisory_rule_says_it_cannot_tell_what_is_released(
    base: dict[str, Path], tmp_path: Path
) -> None:
    project, plans = _branch(tmp_path, _release_image("messaging"))
    run = _check(project, plans, OldSide())
    assert _warned(run) == []
    [reason] = [n.reason for n in run.not_applicable if n.policy == WARNS]
    assert "--base <base plan>" in reason and "--checkpoint" in reason


def test_an_old_side_of_another_stack_is_refused(
    base: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project, plans = _branch(tmp_path, _release_image("messaging"))
    argv = ["--project", str(project.root), "--stack", "dc1", "--plan", str(plans["dc1"])]
    code = policy_cli.main([*argv, "--peer-plan", f"dc2={plans['dc2']}", "--base", str(base["dc2"])])
    assert code == 2
    assert "is the plan of stack 'dc2', not 'dc1'" in capsys.readouterr().err
