"""Proof: under the engine's ordering rule, a release never disrupts more than max_unavailable serving pods.

For each release diff of ``tests/release/scenarios.py`` the offline plans of this program are diffed and
:func:`webex_cloud.release.disruption.releases` computes, from the dependency graph, the largest number
of serving meetings-media pods disrupted at one moment. The same computation over the plans of the
program before the gates (``tests/data/release/main-*.json``, rendered from main by the script next to
them) must exceed it for the diffs that disrupt serving pods, so this test can fail.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, ProjectCopy
from tests.release.scenarios import DOWNTIME_ON_MAIN, SCENARIOS, SERVICE, apply, trim_to_service
from webex_cloud.change.model import Action, ChangeSet
from webex_cloud.facts.provider import FORCE_NEW
from webex_cloud.plan import format as tokens
from webex_cloud.plan.document import render_plan
from webex_cloud.preview.offline import diff_snapshots
from webex_cloud.preview.plans import snapshot_from_plan
from webex_cloud.preview.risks import Level, rank
from webex_cloud.release.disruption import SHARED, ServiceRelease, describe, releases

MAIN_PLANS = REPO / "tests" / "data" / "release"
MAX_UNAVAILABLE = 1  # the catalog's default: meetings-media declares no rollout


@cache
def _plan(scenario: str, root: str) -> dict[str, Any]:
    project = ProjectCopy(Path(root) / scenario)
    apply(project, scenario)
    return render_plan("dc1", project_dir=project.root)


def _changes(base: dict[str, Any], pr: dict[str, Any]) -> ChangeSet:
    return diff_snapshots(
        snapshot_from_plan(base, source="base.json"), snapshot_from_plan(pr, source="pr.json")
    )


def _release(changes: ChangeSet) -> ServiceRelease:
    return next(r for r in releases(changes, changes.graph) if r.service == SERVICE)


@pytest.fixture(scope="module")
def plans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    root = str(tmp_path_factory.mktemp("release"))
    return {s: _plan(s, root) for s in ("base", *SCENARIOS)}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_release_disrupts_at_most_max_unavailable(plans: dict[str, dict[str, Any]], scenario: str) -> None:
    changes = _changes(plans["base"], plans[scenario])
    release = _release(changes)
    assert release.at_once <= MAX_UNAVAILABLE
    assert not release.ungated
    assert not [r for r in rank(changes) if r.kind == "downtime"]


@pytest.mark.parametrize("scenario", DOWNTIME_ON_MAIN)
def test_the_program_before_gates_disrupts_more(scenario: str) -> None:
    base = json.loads((MAIN_PLANS / "main-base.json").read_text())
    pr = json.loads((MAIN_PLANS / f"main-{scenario}.json").read_text())
    release = _release(_changes(base, pr))
    assert release.at_once > MAX_UNAVAILABLE
    assert release.at_once == len(release.serving) == 4


def test_image_release_rebuilds_wave_by_wave(plans: dict[str, dict[str, Any]]) -> None:
    release = _release(_changes(plans["base"], plans["image-every-role"]))
    assert release.waves == tuple((f"{SERVICE}-pod-{i}",) for i in range(4))
    assert release.what == ("rebuild (root disk wiped)",)


def test_flavor_release_replaces_each_pod_whole(plans: dict[str, dict[str, Any]]) -> None:
    changes = _changes(plans["base"], plans["flavor"])
    instances = [c for c in changes.changes if c.type == "openstack:compute/instance:Instance"]
    assert len(instances) == 12  # every instance of every pod, relay included: the pod moves as one
    assert {c.action.value for c in instances} == {"replace"}


def test_new_pod_waits_for_the_last_gate(plans: dict[str, dict[str, Any]]) -> None:
    release = _release(_changes(plans["base"], plans["scale-out"]))
    assert release.waves[-1] == (f"{SERVICE}-pod-4",)
    assert release.disrupted == ()


def test_moving_a_first_pod_design_deployment_rolls_and_deletes_the_per_pod_groups(
    plans: dict[str, dict[str, Any]],
) -> None:
    """main-base.json is the first pod design as deployed (per-pod ``affinity`` groups, sibling-group
    hints); this program's plan of the same stack is the release that moves it (docs/releasing.md,
    "Moving deployed pods to a new pod design")."""
    base = json.loads((MAIN_PLANS / "main-base.json").read_text())
    current = trim_to_service(plans["base"])
    changes = _changes(base, current)
    release = _release(changes)
    assert release.disrupted == release.serving == tuple(f"{SERVICE}-pod-{i}" for i in range(4))
    assert release.at_once <= MAX_UNAVAILABLE
    assert not release.ungated
    assert not [r for r in rank(changes) if r.kind == "downtime"]
    # Every instance is replaced (new hints are ForceNew), none resized or rebuilt in place.
    instances = [c for c in changes.changes if c.type == tokens.INSTANCE]
    assert len(instances) == 12 and {c.action for c in instances} == {Action.REPLACE}
    # The per-pod groups are deleted. Nothing the program registers depends on them, so the engine
    # deletes them in its post-steps, after the last wave's gate passed (pulumi/pulumi v3.259.0
    # pkg/resource/deploy/deployment_executor.go performPostSteps -> step_generator.go GenerateDeletes).
    deleted = {c.urn for c in changes.changes if c.type == tokens.SERVER_GROUP and c.action is Action.DELETE}
    assert {urn.rsplit("::", 1)[1] for urn in deleted} == {f"{SERVICE}-pod-{i}-group" for i in range(4)}
    assert not [r["urn"] for r in current["resources"] if deleted & set(r["dependencies"])]
    assert [r["inputs"]["policies"] for r in current["resources"] if r["type"] == tokens.SERVER_GROUP] == [
        "anti-affinity"
    ]


def _with_group_policy(plan: dict[str, Any], policies: str, *, option_defined: bool) -> dict[str, Any]:
    """The plan with the service's anchor group's ``policies`` changed (ForceNew: replaced), and its
    ``deleteBeforeReplace`` option set by the program or left to the provider."""
    changed: dict[str, Any] = json.loads(json.dumps(plan))
    groups = [
        r for r in changed["resources"] if r["type"] == tokens.SERVER_GROUP and r["name"].startswith(SERVICE)
    ]
    assert len(groups) == 1
    groups[0]["inputs"]["policies"] = policies
    if not option_defined:
        groups[0]["deleteBeforeReplace"] = False
        groups[0].pop("deleteBeforeReplaceDefined", None)
    return changed


def test_replacing_the_anchor_group_with_an_image_release_keeps_the_waves(
    plans: dict[str, dict[str, Any]],
) -> None:
    """Issue 32: the named group left to the bridge is deleted first (forced delete-before-replace), and the
    engine deletes every anchor depending on it in the group's own step (pulumi/pulumi
    pkg/resource/deploy/step_generator.go calculateDependentReplacements): all pods at once, ahead of the
    gates. The program sets ``delete_before_replace=False`` on the group, so each anchor moves in its wave."""
    base, pr = plans["base"], plans["image-every-role"]
    group = next(
        r for r in pr["resources"] if r["type"] == tokens.SERVER_GROUP and r["name"].startswith(SERVICE)
    )
    assert group["deleteBeforeReplaceDefined"] is True and group["deleteBeforeReplace"] is False

    cascade = _changes(base, _with_group_policy(pr, "soft-anti-affinity", option_defined=False))
    release = _release(cascade)
    assert release.at_once == len(release.serving) == 4
    assert [r for r in rank(cascade) if r.kind == "downtime"]

    waved = _changes(base, _with_group_policy(pr, "soft-anti-affinity", option_defined=True))
    release = _release(waved)
    anchors = {c.name for c in waved.changes if c.type == tokens.INSTANCE and c.action is Action.REPLACE}
    assert anchors == {f"{SERVICE}-pod-{i}-media-0" for i in range(4)} or len(anchors) == 4
    assert release.at_once <= MAX_UNAVAILABLE
    assert not release.ungated
    assert not [r for r in rank(waved) if r.kind == "downtime"]


def test_the_release_says_how_its_waves_are_judged_and_warns_when_only_connects_judge_them(
    plans: dict[str, dict[str, Any]],
) -> None:
    changes = _changes(plans["base"], plans["image-every-role"])
    line = describe(_release(changes))
    assert (
        "each wave bakes 300s, then is judged on probe-failure-ratio, probe-duration-p95 of the health "
        in line
    )
    assert "rolls back automatically (docs/releasing.md)" in line
    # meetings-media checks every role with a TCP connect and declares no metrics.
    (warning,) = [r for r in rank(changes) if r.kind == "release-judgement"]
    assert warning.level is Level.WARNING and warning.subject == f"service `{SERVICE}`"
    assert warning.reason.startswith(
        "judged only by TCP connects, which pass while the service fails its calls"
    )
    assert len(warning.urns) == 4  # the four gates


def _release_of(tmp_path: Path, edit: Callable[[ProjectCopy], None]) -> ChangeSet:
    rendered = []
    for scenario in ("base", "image-every-role"):
        project = ProjectCopy(tmp_path / scenario)
        edit(project)
        apply(project, scenario)
        rendered.append(render_plan("dc1", project_dir=project.root))
    return _changes(*rendered)


def test_an_http_health_check_or_declared_metrics_silence_the_warning(tmp_path: Path) -> None:
    def http_check(project: ProjectCopy) -> None:
        check = {"protocol": "http", "port": 443, "path": "/healthz"}
        project.edit(
            f"catalog/{SERVICE}.yaml", lambda doc: doc.setdefault("rollout", {}).update(health_check=check)
        )

    changes = _release_of(tmp_path / "http", http_check)
    assert [r for r in rank(changes) if r.kind == "release-judgement"] == []

    def declared(project: ProjectCopy) -> None:
        analysis = {
            "bake_s": 600,
            "requests": 'sum(increase(calls_total{pod=~"$pods"}[$window]))',
            "metrics": [{"name": "error-ratio", "query": 'max(errors{pod=~"$pods"})', "max": 0.02}],
        }
        # Application series: the service declares the endpoint the monitoring scrapes them from.
        metrics = {"port": 9464}
        project.edit(
            f"catalog/{SERVICE}.yaml", lambda doc: doc.update(rollout={"analysis": analysis}, metrics=metrics)
        )

    changes = _release_of(tmp_path / "declared", declared)
    assert [r for r in rank(changes) if r.kind == "release-judgement"] == []
    shown = describe(_release(changes))
    assert "each wave bakes 600s, then is judged on error-ratio (new pods" in shown
    # The catalog's own limits are what a reviewer has to read: the preview shows them.
    assert "at least 10 requests): error-ratio fails when new > 0.02" in shown


def test_a_datacenter_without_monitoring_warns_that_nothing_judges_its_releases(tmp_path: Path) -> None:
    changes = _release_of(
        tmp_path, lambda project: project.edit_datacenter("dc1", lambda dc: dc.pop("monitoring"))
    )
    assert "waves gated on serving only" in describe(_release(changes))
    (warning,) = [r for r in rank(changes) if r.kind == "release-judgement"]
    assert warning.reason.startswith("no Prometheus judges its waves by their metrics")


def test_replacing_every_resource_of_a_kind_that_pods_depend_on_keeps_the_waves(
    plans: dict[str, dict[str, Any]],
) -> None:
    """Issue 32, the rule behind the anchor group: whatever of a service the engine replaces
    delete-first takes down, in its own step, every instance that depends on it through a ForceNew input
    (pulumi/pulumi 3.260.0-dev pkg/resource/deploy/step_generator.go calculateDependentReplacements).
    So each kind of resource of a service's pods or of the service itself, replaced everywhere at once
    (a provider default or a program change that touches every port, say), must still release one wave
    at a time, except the network, subnet, router interface and security group, which cut every pod off
    whatever the order and are reported so (SHARED). Named ports are delete-first (the bridge's
    nameRequiresDeleteBeforeReplace); before they waited for the previous wave's gate, every pod's
    instances were deleted together. Instances themselves are gated through their gate's triggers
    (test_gate_triggers.py), so an input the program does not set is no release of theirs."""
    base = plans["base"]
    snapshot = snapshot_from_plan(base, source="base.json")
    topology = diff_snapshots(snapshot, snapshot).topology
    kinds: dict[tuple[str, str], set[str]] = {}
    for resource in base["resources"]:
        service = topology.service_of(resource["urn"])
        kind = resource["type"]
        if service is None or kind in SHARED or kind == tokens.INSTANCE or resource.get("protect"):
            continue
        if "region" in FORCE_NEW.get(kind, ()):  # ForceNew on every OpenStack resource of the table
            kinds.setdefault((service, kind), set()).add(resource["urn"])
    assert (SERVICE, "openstack:networking/port:Port") in kinds
    assert (SERVICE, tokens.SERVER_GROUP) in kinds
    too_many = []
    for (service, kind), urns in sorted(kinds.items()):
        pr: dict[str, Any] = json.loads(json.dumps(base))
        for resource in pr["resources"]:
            if resource["urn"] in urns:
                resource["inputs"]["region"] = "RegionTwo"
        changes = diff_snapshots(snapshot, snapshot_from_plan(pr, source="pr.json"))
        for release in releases(changes, changes.graph):
            if release.at_once > release.max_unavailable or release.ungated:
                too_many.append(f"{kind} of {service}: {describe(release)}")
    assert not too_many
