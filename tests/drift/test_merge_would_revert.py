"""The pull-request comment's "this merge would also revert": the out-of-band changes the latest drift
report of a stack found and the next `up` undoes, from `drift --json-out` through `pr-check --drift`."""

from __future__ import annotations

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
    assert "no drift report of dc1" in comment.build(options.out, options.commit)

    (reports / "dc1.json").write_text(
        json.dumps({"format": "webex-cloud.drift/v1", "stack": "dc2", "drift": []})
    )
    step = keep_drift(options, "dc1")
    assert step is not None and step.code == ExitCode.INPUT
    body = comment.build(options.out, options.commit)
    assert f"{reports / 'dc1.json'}: stack: 'dc2', not 'dc1'" in body and "--json-out" in body
    assert not (options.out / "dc1" / comment.DRIFT_REPORT).exists()


def test_without_drift_reports_the_comment_has_no_such_section(tmp_path: Path) -> None:
    options = _options(tmp_path, tmp_path / "unused")
    options = Options(**{**options.__dict__, "drift": None})
    assert keep_drift(options, "dc1") is None
    assert "would also revert" not in comment.build(options.out, options.commit)


__all__ = ["served"]
