"""Which alerts a catalog change adds, removes and changes, as the pull request would show them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO, ProjectCopy
from webex_cloud.commands.monitoring import generate, main
from webex_cloud.monitoring_ops import diff


def test_an_unchanged_catalog_changes_no_alert() -> None:
    assert diff.diff(generate(REPO, "dc1"), generate(REPO, "dc1")).empty


def test_a_new_service_adds_its_alerts_and_a_floor_change_changes_one(project: ProjectCopy) -> None:
    base = generate(project.root, "dc1")
    service = project.load("catalog/meetings-signalling.yaml")
    service.update(name="chat-bots")
    project.save("catalog/chat-bots.yaml", service)
    project.edit("catalog/messaging.yaml", lambda doc: doc.__setitem__("rollout", {"max_unavailable": 2}))
    result = diff.diff(base, generate(project.root, "dc1"))
    # A copy of meetings-signalling, metrics endpoint included: its scrape is watched too.
    assert set(result.added) == {
        ("service-chat-bots", "ServiceBelowReleaseFloor"),
        ("service-chat-bots", "InstancesMissing"),
        ("service-chat-bots", "ServiceNotNPlusOne"),
        ("service-chat-bots", "AppMetricsNotScraped"),
    }
    assert not result.removed
    # messaging: 3 pods, 2 at a time: its floor drops from 2 to 1, and N+1 and the floor change.
    assert {key for key in result.changed if key[0] == "service-messaging"} == {
        ("service-messaging", "ServiceBelowReleaseFloor"),
        ("service-messaging", "ServiceNotNPlusOne"),
    }
    text = diff.render("dc1", result)
    assert text.startswith("**dc1 alerts**: 4 added, 0 removed, 2 changed")
    assert "- changed `ServiceBelowReleaseFloor` (`service-messaging`, to `team-messaging`): expr `" in text
    assert "< 1`" in text
    assert "- added `InstancesMissing` (`service-chat-bots`, `ticket`, to `team-signalling`): `" in text


def test_a_new_owner_adds_its_receiver_and_its_alerts_reach_it(project: ProjectCopy) -> None:
    base = generate(project.root, "dc1")
    project.edit("catalog/messaging.yaml", lambda doc: doc.__setitem__("owner", "team-chat"))

    def add_receiver(dc: dict[str, object]) -> None:
        receivers = dc["monitoring"]["receivers"]  # type: ignore[index]
        receivers["team-chat"] = receivers["team-messaging"]
        del receivers["team-messaging"]

    project.edit_datacenter("dc1", add_receiver)
    result = diff.diff(base, generate(project.root, "dc1"))
    assert (result.receivers_added, result.receivers_removed) == (("team-chat",), ("team-messaging",))
    text = diff.render("dc1", result)
    assert "- changed `ServiceBelowReleaseFloor` (`service-messaging`, to `team-chat`): " in text
    assert "- receivers added: `team-chat`" in text and "- receivers removed: `team-messaging`" in text


def test_the_command_diffs_against_a_base_that_monitors_nothing(
    project: ProjectCopy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project.edit_datacenter("dc1", lambda dc: dc.pop("monitoring"))
    assert main(["--stack", "dc1", "--out", str(tmp_path), "--base", str(project.root)]) == 0
    out = capsys.readouterr().out
    added = len(diff.alerts_of(generate(REPO, "dc1")))
    assert f"**dc1 alerts**: {added} added, 0 removed, 0 changed" in out
