"""The project pr-check's main-policy step judges: this branch's files with the base's policy pack."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from webex_cloud.commands.pr_check import changed_pack_files, judged_project
from webex_cloud.policy_check.analyzer import pack_python


def _checkout(root: Path, rule: str) -> Path:
    (root / "policies" / "webex_policies").mkdir(parents=True)
    (root / "policies" / "PulumiPolicy.yaml").write_text(
        yaml.safe_dump({"runtime": {"name": "python", "options": {"virtualenv": "../.venv"}}})
    )
    (root / "policies" / "webex_policies" / "pack.py").write_text(rule)
    (root / "stacks").mkdir()
    (root / "stacks" / "Pulumi.dc1.yaml").write_text(f"# {root.name}'s stack\n")
    return root


def test_the_judged_project_has_the_branchs_data_and_the_bases_pack(tmp_path: Path) -> None:
    pr = _checkout(tmp_path / "pr", "weakened = True\n")
    base = _checkout(tmp_path / "base", "weakened = False\n")
    (base / "policies" / "__pycache__").mkdir()
    (base / "policies" / "__pycache__" / "x.pyc").write_bytes(b"stale")
    judged = judged_project(pr, base, tmp_path / "judged")
    assert (judged / "stacks" / "Pulumi.dc1.yaml").read_text() == "# pr's stack\n"
    assert (judged / "policies" / "webex_policies" / "pack.py").read_text() == "weakened = False\n"
    assert not (judged / "policies" / "__pycache__").exists()
    # The pack runs where the CLI would run it: PulumiPolicy.yaml's ../.venv, this interpreter's venv.
    venv = Path(sys.executable).parent.parent
    assert pack_python(judged / "policies") == venv.resolve() / "bin" / "python"


def test_a_changed_pack_is_listed_file_by_file_and_caches_are_not(tmp_path: Path) -> None:
    pr = _checkout(tmp_path / "pr", "rule = 1\n")
    base = _checkout(tmp_path / "base", "rule = 1\n")
    for checkout, junk in ((pr, ".ruff_cache/a"), (base, "__pycache__/pack.pyc"), (pr, "x.egg-info/PKG")):
        (checkout / "policies" / junk).parent.mkdir(parents=True, exist_ok=True)
        (checkout / "policies" / junk).write_text("cache")
    assert changed_pack_files(pr, base) == []
    (pr / "policies" / "webex_policies" / "pack.py").write_text("rule = 0\n")
    (pr / "policies" / "webex_policies" / "extra.py").write_text("")
    (base / "policies" / "webex_policies" / "gone.py").write_text("")
    assert changed_pack_files(pr, base) == [
        "policies/webex_policies/extra.py",
        "policies/webex_policies/gone.py",
        "policies/webex_policies/pack.py",
    ]
