"""The fleet-wide summary of drift (webex_cloud/drift/fleet.py and `drift-summary`): every stack a row,
worst first; a missing, unreadable or old report is said so, never dropped or shown as today's."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from webex_cloud.commands.drift_summary import main
from webex_cloud.drift.fleet import Verdict, summarize, to_json, to_markdown
from webex_cloud.drift.published import MAX_AGE
from webex_cloud.exit_codes import ExitCode

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


def _write(folder: Path, stack: str, hours_old: float | None = 3, **fields: Any) -> None:
    document: dict[str, Any] = {"format": "webex-cloud.drift/v1", "stack": stack, "blocking": 0, "drift": []}
    if hours_old is not None:
        document["generated"] = (NOW - dt.timedelta(hours=hours_old)).strftime("%Y-%m-%dT%H:%M:%SZ")
    (folder / f"{stack}.json").write_text(json.dumps(document | fields))


def test_every_stack_gets_its_verdict_worst_first(tmp_path: Path) -> None:
    _write(tmp_path, "clean")
    _write(tmp_path, "warned", counts={"metadata": 2, "pending": 1})
    _write(tmp_path, "blocked", blocking=2, counts={"stopped": 1, "deleted": 1})
    _write(tmp_path, "blind", could_not_check=["compute hosts: 403"])
    _write(tmp_path, "old", hours_old=40, blocking=1, counts={"stopped": 1})
    _write(tmp_path, "undated", hours_old=None)
    (tmp_path / "broken.json").write_text("{not json")
    stacks = ["clean", "warned", "blocked", "blind", "old", "undated", "broken", "absent"]
    rows = summarize(stacks, tmp_path, NOW)
    assert [(r.stack, r.verdict) for r in rows] == [
        ("broken", Verdict.UNUSABLE),
        ("absent", Verdict.MISSING),
        ("old", Verdict.STALE),
        ("undated", Verdict.STALE),
        ("blocked", Verdict.BLOCKING),
        ("blind", Verdict.UNCHECKED),
        ("warned", Verdict.WARNINGS),
        ("clean", Verdict.CLEAN),
    ]
    markdown = to_markdown(rows, NOW, MAX_AGE)
    assert "8 stack(s): 1 unusable report, 1 no report, 2 stale, 1 blocking" in markdown
    assert (
        "| `old` | stale | 1 | stopped 1 | 40 h | the report was written at 2026-12-05 20:00 UTC" in markdown
    )
    assert (
        "| `blocked` | blocking | 2 | deleted 1, stopped 1 | 3 h | 2 blocking: its next deploy stops |"
        in markdown
    )
    assert (
        "| `broken` | unusable report | — | — | — | " in markdown
        and "broken.json: not a drift report" in markdown
    )
    document = json.loads(to_json(rows, NOW, MAX_AGE))
    old = next(s for s in document["stacks"] if s["stack"] == "old")
    assert old["age_hours"] == 40.0 and old["blocking"] == 1 and old["generated"] == "2026-12-05T20:00:00Z"
    assert document["verdicts"]["stale"] == 2


def test_a_longer_limit_keeps_a_day_old_report_current(tmp_path: Path) -> None:
    _write(tmp_path, "dc1", hours_old=40)
    assert summarize(["dc1"], tmp_path, NOW)[0].verdict is Verdict.STALE
    assert summarize(["dc1"], tmp_path, NOW, dt.timedelta(hours=48))[0].verdict is Verdict.CLEAN


def test_the_command_writes_both_forms_and_refuses_a_folder_that_is_not_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    _write(reports, "dc1", hours_old=0, blocking=1, counts={"stopped": 1})
    args = [
        "--reports",
        str(reports),
        "--markdown",
        str(tmp_path / "f.md"),
        "--json",
        str(tmp_path / "f.json"),
    ]
    assert main(args) == ExitCode.OK
    out = capsys.readouterr().out
    assert out == (tmp_path / "f.md").read_text() and "| `dc2` | no report |" in out
    assert {s["stack"] for s in json.loads((tmp_path / "f.json").read_text())["stacks"]} == {"dc1", "dc2"}
    assert main(["--reports", str(tmp_path / "nowhere")]) == ExitCode.INPUT
    assert "no such folder" in capsys.readouterr().err
    assert main(["--reports", str(reports), "--stack", "dc9"]) == ExitCode.INPUT
    assert main(["--reports", str(reports), "--max-age", "0"]) == ExitCode.INPUT
