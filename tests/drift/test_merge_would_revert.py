"""The pull-request comment's "this merge would also revert": the out-of-band changes the latest drift
report of a stack found and the next `up` undoes, from `drift --json-out` through `pr-check --drift`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from tests.drift.fakes import Site, site
from tests.drift.test_cli import argv, run_cli, served, stop_one
from webex_cloud.audit.expected import Expected
from webex_cloud.cloud.inventory import Inventory
from webex_cloud.commands import comment
from webex_cloud.commands.pr_check import Options, keep_drift
from webex_cloud.exit_codes import ExitCode
from webex_cloud.plan.format import Plan


@pytest.fixture
def dc1(plan: Plan, expected: Expected) -> Site:
    return site(plan, expected)


def _options(tmp_path: Path, reports: Path) -> Options:
    out = tmp_path / "out"
    (out / "dc1").mkdir(parents=True)
    return Options(
        pr_dir=tmp_path,
        base_dir=tmp_path,
        out=out,
        stacks=("dc1",),
        state=None,
        pulumi=False,
        commit="0123456789abcdef",
        drift=reports,
    )


def test_a_stopped_server_is_what_the_merge_would_also_revert(
    dc1: Site,
    plan_file: Path,
    served: list[Inventory],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    reports = tmp_path / "drift"
    server = stop_one(dc1)
    served.append(dc1.inventory())
    code, out, _ = run_cli(argv(plan_file, tmp_path, dc1, "--json-out", str(reports / "dc1.json")), capsys)
    assert code == ExitCode.BLOCKING and "[BLOCK] stopped" in out  # the text report is still printed
    options = _options(tmp_path, reports)
    step = keep_drift(options, "dc1")
    assert step is not None and step.code == ExitCode.OK
    body = comment.build(options.out, options.commit)
    section = body.split("this merge would also revert", 1)[1]
    written = json.loads((reports / "dc1.json").read_text())["generated"]  # when drift read the cloud
    assert f"written {written[:10]} {written[11:16]} UTC" in section and "Stale" not in section
    (row,) = [line for line in section.splitlines() if "| stopped |" in line]
    assert (
        row.startswith("| `")
        and "`powerState`" in row
        and '`"active"` → `"SHUTOFF"`' in row
        and "| revert | no |" in row
    )
    digest_with = comment.digest_of(comment.build(options.out, "0123456789ab"))

    server["status"] = "ACTIVE"  # the operator started it again: the next report is clean
    served[0] = dc1.inventory()
    code, _, _ = run_cli(argv(plan_file, tmp_path, dc1, "--json-out", str(reports / "dc1.json")), capsys)
    assert code == ExitCode.OK
    assert keep_drift(options, "dc1") is not None
    body = comment.build(options.out, options.commit)
    assert "Nothing: no out-of-band change that `up` would undo." in body
    assert comment.digest_of(comment.build(options.out, "0123456789ab")) != digest_with


def test_a_missing_report_is_said_and_a_wrong_one_fails_naming_the_file(tmp_path: Path) -> None:
    reports = tmp_path / "drift"
    reports.mkdir()
    options = _options(tmp_path, reports)
    step = keep_drift(options, "dc1")
    assert step is not None and step.code == ExitCode.OK
    assert "no drift report of dc1 from the daily drift run" in comment.build(options.out, options.commit)

    (reports / "dc1.json").write_text(
        json.dumps({"format": "webex-cloud.drift/v1", "stack": "dc2", "drift": []})
    )
    step = keep_drift(options, "dc1")
    assert step is not None and step.code == ExitCode.INPUT
    body = comment.build(options.out, options.commit)
    assert f"{reports / 'dc1.json'}: stack: 'dc2', not 'dc1'" in body and "--json-out" in body
    assert not (options.out / "dc1" / comment.DRIFT_REPORT).exists()


def _report(generated: str | None) -> str:
    document = {"format": "webex-cloud.drift/v1", "stack": "dc1", "blocking": 0, "drift": []}
    return json.dumps(document | ({"generated": generated} if generated else {}))


@pytest.mark.parametrize(
    ("generated", "stale"),
    [
        ("2026-12-07T05:17:40Z", ""),
        ("2026-12-05T05:17:40Z", "written at 2026-12-05 05:17 UTC, more than 36 h before this check"),
        (None, "does not say when it was written"),
    ],
)
def test_a_report_older_than_the_limit_is_said_stale_and_the_words_do_not_move_with_the_clock(
    tmp_path: Path, generated: str | None, stale: str
) -> None:
    reports = tmp_path / "drift"
    reports.mkdir()
    (reports / "dc1.json").write_text(_report(generated))
    options = _options(tmp_path, reports)
    bodies = set()
    for hours_later in (0, 5):
        now = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC) + dt.timedelta(hours=hours_later)
        step = keep_drift(options, "dc1", now)
        assert step is not None and step.code == ExitCode.OK  # stale is said, never a failed check
        bodies.add(comment.build(options.out, options.commit))
    (body,) = bodies  # one digest for one report: a later push of the same report says "no changes"
    section = body.split("this merge would also revert", 1)[1]
    if generated:
        assert f"written {generated[:10]} {generated[11:16]} UTC" in section
    if stale:
        assert "> **Stale:**" in section and stale in section
    else:
        assert "Stale" not in section
    # A fresh report later replaces the stale one, and the note goes with it.
    (reports / "dc1.json").write_text(_report("2026-12-07T05:17:40Z"))
    keep_drift(options, "dc1", dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC))
    assert "Stale" not in comment.build(options.out, options.commit)


def test_a_report_without_its_blocking_count_or_with_a_bad_time_is_unusable(tmp_path: Path) -> None:
    reports = tmp_path / "drift"
    reports.mkdir()
    options = _options(tmp_path, reports)
    for document, says in (
        ({"format": "webex-cloud.drift/v1", "stack": "dc1", "drift": []}, "blocking: a count"),
        (json.loads(_report("yesterday")), "generated: 'yesterday' is not a UTC time"),
    ):
        (reports / "dc1.json").write_text(json.dumps(document))
        step = keep_drift(options, "dc1")
        assert step is not None and step.code == ExitCode.INPUT
        assert says in comment.build(options.out, options.commit)


def test_an_unchanged_stack_still_shows_what_the_merge_would_revert(tmp_path: Path) -> None:
    """The merge deploys every stack: an unchanged one's out-of-band changes are undone all the same."""
    reports = tmp_path / "drift"
    reports.mkdir()
    options = _options(tmp_path, reports)
    (options.out / "dc1" / comment.UNCHANGED).write_text("its inputs are the base's\n")
    body = comment.build(options.out, options.commit)
    assert "this merge would also revert" not in body  # pr-check did not keep any report yet
    keep_drift(options, "dc1")
    body = comment.build(options.out, options.commit)
    assert "— unchanged" in body and "`dc1`: this merge would also revert" in body
    assert "no drift report of dc1" in body


def test_without_drift_reports_the_comment_has_no_such_section(tmp_path: Path) -> None:
    options = _options(tmp_path, tmp_path / "unused")
    options = Options(**{**options.__dict__, "drift": None})
    assert keep_drift(options, "dc1") is None
    assert "would also revert" not in comment.build(options.out, options.commit)


__all__ = ["served"]
