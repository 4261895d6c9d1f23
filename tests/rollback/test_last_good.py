"""The last good record: what it holds, that it refuses a tampered or foreign record, where it lives,
and the project a rollback deploys from it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ProjectCopy
from webex_cloud.commands.last_good import main as last_good
from webex_cloud.exit_codes import ExitCode
from webex_cloud.rollback import store
from webex_cloud.rollback.last_good import FORMAT, LastGoodError, build, dumps, loads, materialise, record_key

COMMIT = "c0ffee" + "0" * 34


def test_the_record_holds_the_commit_the_catalog_and_only_its_own_stack_file(project: ProjectCopy) -> None:
    record = build(project.root, "dc1", COMMIT)
    assert record.format == FORMAT and record.commit == COMMIT and record.stack == "dc1"
    assert "stacks/Pulumi.dc1.yaml" in record.files and "stacks/Pulumi.dc2.yaml" not in record.files
    assert "catalog/meetings-media.yaml" in record.files and "catalog/images/images.yaml" in record.files
    text = (project.root / "catalog/meetings-media.yaml").read_text()
    assert record.files["catalog/meetings-media.yaml"].text == text
    assert record.catalog_texts()["catalog/meetings-media.yaml"] == text
    assert "catalog/images/images.yaml" not in record.catalog_texts()  # not a service file
    assert loads(dumps(record), "x", "dc1") == record


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["files"]["catalog/messaging.yaml"].update(text="name: evil\n"), "was edited or cut"),
        (lambda d: d.update(format="webex-cloud.last-good/v0"), "format"),
        (lambda d: d["files"].pop("stacks/Pulumi.dc1.yaml"), "files has no stacks/Pulumi.dc1.yaml"),
        (lambda d: d["files"].update({"../../etc/x": d["files"]["catalog/messaging.yaml"]}), "is not data"),
        (lambda d: d["files"].update({"__main__.py": d["files"]["catalog/messaging.yaml"]}), "is not data"),
        (
            lambda d: d.update(
                stack="dc2", files={"stacks/Pulumi.dc2.yaml": d["files"]["stacks/Pulumi.dc1.yaml"]}
            ),
            "the record is for stack dc2, not dc1",
        ),
    ],
)
def test_a_tampered_or_foreign_record_is_refused(project: ProjectCopy, edit: object, message: str) -> None:
    document = json.loads(dumps(build(project.root, "dc1", COMMIT)))
    edit(document)  # type: ignore[operator]
    with pytest.raises(LastGoodError, match=message):
        loads(json.dumps(document).encode(), "bucket/deployments/dc1/last-good.json", "dc1")


def test_it_lives_beside_the_state_and_a_missing_one_says_so(project: ProjectCopy, tmp_path: Path) -> None:
    backend = f"file://{tmp_path / 'state'}"
    with pytest.raises(LastGoodError, match="no last good deploy recorded for dc1"):
        store.get(backend, "dc1")
    record = build(project.root, "dc1", COMMIT)
    where = store.put(backend, record)
    assert (
        where
        == str(tmp_path / "state" / record_key("dc1"))
        == str(tmp_path / "state/deployments/dc1/last-good.json")
    )
    assert store.get(backend, "dc1") == record


def test_the_rollback_project_is_the_code_of_main_with_the_data_of_the_record(
    project: ProjectCopy, tmp_path: Path
) -> None:
    record = build(project.root, "dc1", COMMIT)
    main = ProjectCopy(tmp_path / "main")  # main moved on: a new service, an edited stack file
    main.write("catalog/new-service.yaml", "name: new-service\n")
    main.write("stacks/Pulumi.dc1.yaml", "config: {}\n")
    main.write("__main__.py", "# main's program\n")
    root = materialise(record, main.root, tmp_path / "rollback").root
    assert (root / "__main__.py").read_text() == "# main's program\n"
    assert not (root / "catalog/new-service.yaml").exists()
    assert (root / "stacks/Pulumi.dc1.yaml").read_text() == record.files["stacks/Pulumi.dc1.yaml"].text
    assert (root / "stacks/Pulumi.dc2.yaml").read_text() == (main.root / "stacks/Pulumi.dc2.yaml").read_text()


def test_recording_to_something_that_is_no_state_backend_is_refused(
    project: ProjectCopy, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--stack", "dc1", "--state", "https://bucket.example/x", "--commit", COMMIT]
    assert last_good(["--project", str(project.root), *argv]) == ExitCode.INPUT
    assert "not an S3 backend URL" in capsys.readouterr().err


def test_the_deploy_check_passes_without_a_record_but_refuses_an_unreadable_one(
    project: ProjectCopy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backend = f"file://{tmp_path / 'state'}"
    argv = [
        "--project",
        str(project.root),
        "--stack",
        "dc1",
        "--state",
        backend,
        "--commit",
        COMMIT,
        "--check",
    ]
    assert last_good(argv) == ExitCode.OK
    assert "no last good deploy recorded yet" in capsys.readouterr().out
    tampered = tmp_path / "state" / record_key("dc1")
    tampered.parent.mkdir(parents=True)
    tampered.write_text("{not json")
    assert last_good(argv) == ExitCode.INPUT
    captured = capsys.readouterr()
    assert "not JSON" in captured.err and "no last good deploy recorded yet" not in captured.out
