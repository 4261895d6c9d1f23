"""One hold pull request per release: the stacks' rollbacks of one commit merged into one holds file."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml

from webex_cloud.commands.hold_request import main as hold_request
from webex_cloud.config.holds import Hold, StackHolds, digest, holds_text, parse_holds
from webex_cloud.exit_codes import ExitCode
from webex_cloud.rollback.hold_request import CHECK_NOTE, HoldRecordError, body, merge_holds, new_holds

RELEASE, EARLIER = "b" * 40, "9" * 40
GOOD, OLDER_GOOD = "image: webex-media-2026.11\n", "image: webex-media-2026.10\n"
BAD = "image: webex-media-2026.12\n"


def _hold(stack: str, since: str, good: str = GOOD, commit: str = RELEASE, bad: str = BAD) -> Hold:
    return Hold(
        held=digest(good),
        refused=digest(bad),
        catalog=good,
        stack=stack,
        commit=commit,
        last_good_commit="a" * 40,
        since=since,
        reason=f"[gate] {stack}/meetings-media wave 1/4 FAILED after 600.0s",
    )


def _record(stack: str, since: str, *services: str, good: str = GOOD) -> StackHolds:
    return StackHolds(
        stack=stack, commit=RELEASE, holds={service: _hold(stack, since, good) for service in services}
    )


def test_two_stacks_holding_the_same_service_make_one_hold_listing_both() -> None:
    # dc3 finished first in the wave: its rollback is the hold, dc2's joins it.
    merged = merge_holds(
        RELEASE,
        {},
        None,
        [
            _record("dc2", "2026-12-07T01:05:00Z", "meetings-media"),
            _record("dc3", "2026-12-07T01:00:00Z", "meetings-media"),
        ],
    )
    (hold,) = merged.holds.values()
    assert hold.stack == "dc3" and hold.since == "2026-12-07T01:00:00Z"
    assert hold.also == {"dc2": "[gate] dc2/meetings-media wave 1/4 FAILED after 600.0s"}
    assert merged.stacks == ("dc2", "dc3")


def test_a_stack_whose_last_good_text_differs_is_listed_with_the_text_it_had() -> None:
    merged = merge_holds(
        RELEASE,
        {},
        None,
        [
            _record("dc2", "2026-12-07T01:00:00Z", "meetings-media"),
            _record("dc3", "2026-12-07T01:01:00Z", "meetings-media", good=OLDER_GOOD),
        ],
    )
    hold = merged.holds["meetings-media"]
    assert hold.held == digest(GOOD)  # one held text per service: the first rollback's
    assert f"its last good text was {digest(OLDER_GOOD)}" in hold.also["dc3"]
    assert "this hold plans dc2's" in hold.also["dc3"]


def test_stacks_holding_different_services_each_get_their_hold() -> None:
    merged = merge_holds(
        RELEASE,
        {},
        None,
        [
            _record("dc2", "2026-12-07T01:00:00Z", "meetings-media"),
            _record("dc3", "2026-12-07T01:00:00Z", "chat"),
        ],
    )
    assert {s: h.stack for s, h in merged.holds.items()} == {"chat": "dc3", "meetings-media": "dc2"}
    assert all(not h.also for h in merged.holds.values())


def test_a_service_already_held_on_main_keeps_mains_hold_and_nothing_is_opened_for_it() -> None:
    on_main = {"meetings-media": _hold("dc1", "2026-12-01T00:00:00Z", commit=EARLIER)}
    merged = merge_holds(
        RELEASE, on_main, None, [_record("dc2", "2026-12-07T01:00:00Z", "meetings-media", "chat")]
    )
    assert merged.holds["meetings-media"] == on_main["meetings-media"]  # untouched, no `also`
    assert merged.on_main == {"meetings-media": ("dc2",)}
    assert list(new_holds(on_main, merged)) == ["chat"]
    text = body(RELEASE, on_main, merged, [], "https://run")
    assert "`meetings-media` (already held on main)" in text and "### `meetings-media`" not in text
    # Only what main holds already: no pull request at all.
    only = merge_holds(RELEASE, on_main, None, [_record("dc2", "2026-12-07T01:00:00Z", "meetings-media")])
    assert new_holds(on_main, only) == {}


def test_a_re_run_merges_into_the_branch_and_changes_nothing_it_has_already() -> None:
    first = merge_holds(RELEASE, {}, None, [_record("dc2", "2026-12-07T01:00:00Z", "meetings-media")])
    branch = parse_holds(holds_text(first.holds), "branch")  # through the file, as the branch keeps it
    again = [_record("dc2", "2026-12-07T02:00:00Z", "meetings-media")]  # re-run: a later `since`
    assert merge_holds(RELEASE, {}, branch, again).holds == first.holds
    # A later stack's failure (a re-run going on to the next wave) joins the same hold...
    later = merge_holds(RELEASE, {}, branch, [_record("dc4", "2026-12-07T03:00:00Z", "meetings-media")])
    assert list(later.holds["meetings-media"].also) == ["dc4"] and later.stacks == ("dc2", "dc4")
    # ...and merging it again is idempotent too.
    assert (
        merge_holds(
            RELEASE, {}, later.holds, [_record("dc4", "2026-12-07T04:00:00Z", "meetings-media")]
        ).holds
        == later.holds
    )


def test_a_record_of_another_release_is_refused() -> None:
    other = StackHolds(stack="dc2", commit=EARLIER, holds={})
    with pytest.raises(HoldRecordError, match=f"dc2 name another commit than {RELEASE}"):
        merge_holds(RELEASE, {}, None, [other])


def test_the_body_lists_every_stack_every_held_service_and_how_to_start_the_check() -> None:
    records = [
        _record("dc2", "2026-12-07T01:00:00Z", "meetings-media"),
        _record("dc3", "2026-12-07T01:01:00Z", "meetings-media"),
        _record("dc4", "2026-12-07T01:02:00Z"),  # rolled back, nothing to hold
    ]
    merged = merge_holds(RELEASE, {}, None, records)
    text = body(RELEASE, {}, merged, records, "https://run/1")
    assert f"- refused text: `{digest(BAD)}`" in text and f"- held text: `{digest(GOOD)}`" in text
    assert "- `dc2`: held `meetings-media`" in text and "- `dc3`: held `meetings-media`" in text
    assert "- `dc4`: held nothing (it changed no catalog file)" in text
    assert "rolled back in `dc3` too: [gate] dc3/" in text
    assert CHECK_NOTE in text and "Close and reopen this pull request" in text


def _write(folder: Path, record: StackHolds) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{record.stack}.yaml").write_text(yaml.safe_dump(record.model_dump(mode="json")))


def _run(records: Path, out: Path, *extra: str) -> int:
    argv = ["--records", str(records), "--commit", RELEASE, "--run-url", "https://run/1", "--out", str(out)]
    return hold_request([*argv, *extra])


def _answer(path: Path, text: str, blob: str) -> str:
    """What `gh api repos/O/R/contents/deployments/holds.yaml?ref=...` prints."""
    path.write_text(json.dumps({"content": base64.encodebytes(text.encode()).decode(), "sha": blob}))
    return str(path)


def test_the_command_writes_the_file_the_blob_it_replaces_and_the_pull_request(tmp_path: Path) -> None:
    main = _answer(tmp_path / "main.json", "holds: {}\n", "e" * 40)
    _write(tmp_path / "records" / "hold-dc2", _record("dc2", "2026-12-07T01:00:00Z", "meetings-media"))
    _write(tmp_path / "records" / "hold-dc3", _record("dc3", "2026-12-07T01:01:00Z", "meetings-media"))

    assert _run(tmp_path / "records", tmp_path / "out", "--main-contents", main) == ExitCode.OK
    written = (tmp_path / "out" / "holds.yaml").read_text()
    assert parse_holds(written, "out")["meetings-media"].also.keys() == {"dc3"}
    assert (tmp_path / "out" / "blob.txt").read_text() == "e" * 40  # a new branch starts at main's file
    assert (tmp_path / "out" / "title.txt").read_text().startswith("Hold meetings-media at the last good")

    # The branch has that text now: a re-run writes no file and keeps the pull request's text.
    branch = _answer(tmp_path / "branch.json", written, "f" * 40)
    again = tmp_path / "again"
    assert _run(tmp_path / "records", again, "--main-contents", main, "--branch-contents", branch) == 0
    assert not (again / "holds.yaml").exists() and (again / "blob.txt").read_text() == "f" * 40
    assert (again / "body.md").read_text() == (tmp_path / "out" / "body.md").read_text()

    # The hold pull request merged (main has the holds now): a later re-run opens nothing again.
    merged = _answer(tmp_path / "merged.json", written, "d" * 40)
    after = tmp_path / "after"
    assert _run(tmp_path / "records", after, "--main-contents", merged) == 0
    assert not after.exists()


def test_the_command_refuses_a_broken_record_naming_file_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "records").mkdir()
    (tmp_path / "records" / "dc2.yaml").write_text(
        f"stack: dc2\ncommit: {RELEASE}\nholds: {{x: {{held: no}}}}\n"
    )
    assert _run(tmp_path / "records", tmp_path / "out") == ExitCode.INPUT
    assert "dc2.yaml: holds.x.held" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_nothing_beyond_main_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(tmp_path / "records", _record("dc2", "2026-12-07T01:00:00Z"))
    assert _run(tmp_path / "records", tmp_path / "out") == ExitCode.OK
    assert not (tmp_path / "out").exists()
    assert "nothing to hold beyond main" in capsys.readouterr().out
