"""The base-plan cache's key: every file a render reads and the interpreter, nothing else."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import ProjectCopy
from webex_cloud.preview.base_cache import checkout_digest, entry, store

PYTHON = Path("/usr/bin/python3")


def test_the_same_files_anywhere_have_the_same_digest(project: ProjectCopy, tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere"
    shutil.copytree(project.root, copy)
    assert checkout_digest(project.root, PYTHON) == checkout_digest(copy, PYTHON)


def test_a_changed_input_file_or_interpreter_is_another_digest(project: ProjectCopy) -> None:
    before = checkout_digest(project.root, PYTHON)
    assert checkout_digest(project.root, Path("/opt/other/bin/python")) != before
    project.edit_datacenter("dc1", lambda dc: dc.update(region="RegionTwo"))
    assert checkout_digest(project.root, PYTHON) != before


def test_what_no_render_reads_leaves_the_digest_alone(project: ProjectCopy) -> None:
    before = checkout_digest(project.root, PYTHON)
    for folder in ("build/plan", ".venv/lib", "catalog/__pycache__", ".git"):
        (project.root / folder).mkdir(parents=True)
        (project.root / folder / "noise").write_text("anything")
    assert checkout_digest(project.root, PYTHON) == before


def test_a_kept_plan_is_found_under_its_digest_and_stack_only(tmp_path: Path) -> None:
    plan = tmp_path / "dc1.json"
    plan.write_text('{"stack": "dc1"}')
    store(tmp_path / "cache", "d1", "dc1", plan)
    assert entry(tmp_path / "cache", "d1", "dc1").read_text() == '{"stack": "dc1"}'
    assert not entry(tmp_path / "cache", "d1", "dc2").exists()
    assert not entry(tmp_path / "cache", "d2", "dc1").exists()
