"""The command's contract (exit codes, files, errors) and the rules the catalog cannot reach yet."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.preview.helpers import base_plan, report_of, resource
from webex_cloud.change.model import Action, Certainty, Change, ChangeSet, ControllerNode, Topology
from webex_cloud.commands import preview as cli
from webex_cloud.preview.offline import diff_snapshots
from webex_cloud.preview.plans import snapshot_from_plan
from webex_cloud.preview.pulumi_json import load_preview
from webex_cloud.preview.render import LISTED_CHANGES, LISTED_RISKS, render_json, render_markdown


def _write(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document))
    return path


def test_blocking_exits_1_with_the_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pr = base_plan()
    resource(pr, "recording-storage-recordings-0")["inputs"]["availabilityZone"] = "nova-2"
    code = cli.main(
        [
            "--stack",
            "dc1",
            "--base",
            str(_write(tmp_path / "base.json", base_plan())),
            "--plan",
            str(_write(tmp_path / "pr.json", pr)),
            "--markdown",
            str(tmp_path / "r.md"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert (
        "blocking: data-loss: Volume `recording-storage-recordings-0`: replace expected: availabilityZone"
        in err
    )
    assert (tmp_path / "r.md").read_text().startswith("### Stack `dc1` — 1 blocking")


def test_no_changes_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = _write(tmp_path / "p.json", base_plan())
    assert cli.main(["--stack", "dc1", "--base", str(plan), "--plan", str(plan)]) == 0
    assert "**No changes.**" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--stack", "dc1", "--plan", "PLAN"], "give --preview FILE, or --base FILE"),
        (
            ["--stack", "dc1", "--preview", "PLAN", "--base", "PLAN"],
            "--preview is one source and --base/--state",
        ),
        (["--stack", "dc2", "--base", "PLAN", "--plan", "PLAN"], "is the plan of stack 'dc1', not 'dc2'"),
        (["--stack", "dc1", "--base", "MISSING", "--plan", "PLAN"], "MISSING: cannot read"),
        (
            ["--stack", "dc1", "--base", "BROKEN", "--plan", "PLAN"],
            "BROKEN: not the expected shape: resources",
        ),
    ],
)
def test_bad_input_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    files = {
        "PLAN": _write(tmp_path / "plan.json", base_plan()),
        "MISSING": tmp_path / "missing.json",
        "BROKEN": _write(tmp_path / "broken.json", {**base_plan(), "resources": {"x": 1}}),
    }
    argv = [str(files[a]) if a in files else a for a in args]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert (
        message.replace("PLAN", str(files["PLAN"]))
        .replace("MISSING", str(files["MISSING"]))
        .replace("BROKEN", str(files["BROKEN"]))
        in err
    )


def test_preview_from_stdin_through_the_module_entry_point() -> None:
    sample = (REPO / "tests" / "data" / "preview" / "drift-adopter-aws-tags-and-sets.json").read_text()
    done = subprocess.run(
        [sys.executable, "-m", "webex_cloud", "preview", "--stack", "test-b5f8ac54", "--preview", "-"],
        input=sample,
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "+-` replace SecurityGroup `test-sg`" in done.stdout
    # The replaced AWS security group is a type the report does not know: a warning, never "no risks".
    assert done.stderr.strip() == "test-b5f8ac54: 1 warning · 3 to update, 1 to replace · 2 unchanged"


def _change(name: str, action: Action, inputs: dict[str, object]) -> Change:
    return Change(
        urn=f"urn:pulumi:dc1::webex-cloud::command:remote:Command::{name}",
        type="command:remote:Command",
        name=name,
        action=action,
        certainty=Certainty.EXPECTED,
        old_inputs=inputs,
        new_inputs=inputs,
    )


def _controller_changes(*changes: Change) -> ChangeSet:
    pair = (ControllerNode("dc1-ctl-01", "10.250.1.11"), ControllerNode("dc1-ctl-02", "10.250.1.12"))
    return ChangeSet(
        stack="dc1",
        source="offline-diff",
        source_detail="test",
        changes=changes,
        unchanged=0,
        reads=0,
        topology=Topology(controllers=pair),
    )


def test_both_controllers_in_one_update_is_blocking() -> None:
    rep = report_of(
        _controller_changes(
            _change("restart-api-ctl-01", Action.UPDATE, {"connection": {"host": "10.250.1.11"}}),
            _change("restart-api-ctl-02", Action.UPDATE, {"connection": {"host": "10.250.1.12"}}),
        )
    )
    assert [(r.kind, r.subject) for r in rep.blocking] == [("downtime", "controller pair")]
    assert "`dc1-ctl-01`: `restart-api-ctl-01`; `dc1-ctl-02`: `restart-api-ctl-02`" in rep.blocking[0].reason
    assert "🛑 **downtime** — controller pair" in render_markdown(rep)


def test_one_controller_per_update_is_fine() -> None:
    rep = report_of(
        _controller_changes(
            _change("restart-api-ctl-01", Action.UPDATE, {"connection": {"host": "10.250.1.11"}}),
            _change("unrelated", Action.UPDATE, {"connection": {"host": "10.250.1.99"}}),
        )
    )
    # No downtime: only the warning every change of a root-running command gets.
    assert [(r.level.name, r.kind) for r in rep.risks] == [("WARNING", "root")]


def test_a_huge_release_stays_a_readable_comment(tmp_path: Path) -> None:
    """10,000 steps with hundreds of changes: counted in full, listed only up to the caps."""
    from benchmarks.bench_preview import generate_preview

    path = _write(tmp_path / "preview.json", generate_preview(10_000))
    changes = load_preview(path, stack="dc1")
    rep = report_of(changes)
    text = render_markdown(rep)
    assert len(text) < 20_000
    listed = sum(1 for line in text.splitlines() if line.startswith("- `"))
    assert listed == LISTED_CHANGES < len(changes.changes)
    assert "more, listed in the JSON report" in text or "more changes are counted above" in text
    assert len(render_json(rep)["changes"]) == len(changes.changes)


def test_long_risk_lists_are_capped() -> None:
    volume = "openstack:blockstorage/volume:Volume"
    deletes = tuple(
        Change(
            urn=f"urn:pulumi:dc1::webex-cloud::{volume}::data-{n}",
            type=volume,
            name=f"data-{n}",
            action=Action.DELETE,
            certainty=Certainty.EXPECTED,
        )
        for n in range(LISTED_RISKS + 5)
    )
    rep = report_of(
        ChangeSet(
            stack="dc1",
            source="offline-diff",
            source_detail="test",
            changes=deletes,
            unchanged=0,
            reads=0,
            topology=Topology(),
        )
    )
    text = render_markdown(rep)
    assert len(rep.blocking) == LISTED_RISKS + 5
    assert text.count("🛑 **data-loss**") == LISTED_RISKS
    assert "- … 5 more of the same level, listed in the JSON report" in text


def test_multi_line_and_long_values_stay_on_one_line() -> None:
    base, pr = base_plan(), base_plan()
    command = resource(pr, "dc1-controllers-dc1-ctl-01-rollout")
    command["inputs"]["update"] = "set -e\n" + "x" * 80 + "\nrestart `nova-scheduler`"
    rep = report_of(diff_snapshots(snapshot_from_plan(base, source="b"), snapshot_from_plan(pr, source="p")))
    line = next(
        x
        for x in render_markdown(rep).splitlines()
        if "ctl-01-rollout" in x and x.startswith("- ") and "runs as root" not in x
    )
    assert "⏎" in line and "`nova-scheduler`" not in line
    assert "→ set -e⏎xxxx" in line  # both values shown from where they differ: here, the start
