"""A stack's plan key (webex_cloud.preview.base_cache): every file its render reads and the
interpreter, of the other stacks' files only what the render reads of them, nothing else."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, ProjectCopy
from webex_cloud.preview.base_cache import entry, plan_keys, store
from webex_cloud.preview.changed_stacks import code_files

PYTHON = Path("/usr/bin/python3")
STACKS = ("dc1", "dc2")

#: Plans one stack under an audit hook and prints every file the process opened.
AUDITED_PLAN = """
import json, os, sys
opened = set()
def hook(event, args):
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        opened.add(os.path.realpath(os.fsdecode(args[0])))
sys.addaudithook(hook)
from webex_cloud.commands import plan
code = plan.main(sys.argv[1:])
print(json.dumps({"code": code, "opened": sorted(opened)}))
"""


ARGS = ("--no-policy", "--project")


def _keys(project: ProjectCopy, python: Path = PYTHON) -> dict[str, str]:
    return plan_keys(REPO, project.root, python, STACKS, pools=True)


def _plan(project: ProjectCopy, stack: str, out: Path) -> tuple[bytes, list[str]]:
    """``plan --stack`` of the project as its own process: the plan's bytes and the files it opened."""
    done = subprocess.run(
        [sys.executable, "-c", AUDITED_PLAN, *ARGS, str(project.root), "--stack", stack, "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["code"] == 0, done.stdout + done.stderr
    return (out / f"{stack}.json").read_bytes(), result["opened"]


def test_the_key_holds_every_file_the_render_reads(project: ProjectCopy, tmp_path: Path) -> None:
    """Read with an audit hook, not listed by hand: a file a render opens is keyed, or is a peer's
    stack file (keyed by its pool, below), or the render's own output."""
    _, opened = _plan(project, "dc1", tmp_path / "out")
    code, data = code_files(REPO), code_files(project.root)
    unkeyed = []
    for name in opened:
        path = Path(name)
        if path.is_relative_to(project.root):
            relative = path.relative_to(project.root).as_posix()
            if relative in data or relative.startswith(("catalog/", "stacks/Pulumi.")):
                continue
        elif path.is_relative_to(REPO.resolve()):
            relative = path.relative_to(REPO.resolve()).as_posix()
            # build/: the scheduler filters' wheel, built by the render from their (keyed) source.
            if relative in code or relative.startswith(("build/", ".venv/")) or "__pycache__" in relative:
                continue
        else:
            continue  # the interpreter and its packages: keyed by the interpreter
        unkeyed.append(relative)
    assert unkeyed == []
    assert {"catalog/messaging.yaml", "stacks/Pulumi.dc1.yaml", "stacks/Pulumi.dc2.yaml"} <= {
        Path(name).relative_to(project.root).as_posix()
        for name in opened
        if Path(name).is_relative_to(project.root)
    }


def test_a_peer_edited_outside_its_pool_is_another_key_for_it_only_and_the_same_plan(
    project: ProjectCopy, tmp_path: Path
) -> None:
    before = _keys(project)
    plan, _ = _plan(project, "dc1", tmp_path / "before")
    project.edit_datacenter("dc2", lambda dc: dc.update(region="RegionTwo"))
    after = _keys(project)
    assert after["dc1"] == before["dc1"] and after["dc2"] != before["dc2"]
    assert _plan(project, "dc1", tmp_path / "after")[0] == plan  # what the shared key promises


def test_a_pool_catalog_code_or_interpreter_change_is_another_key_for_every_stack(
    project: ProjectCopy, tmp_path: Path
) -> None:
    before = _keys(project)
    assert _keys(project, Path("/opt/other/bin/python")).keys().isdisjoint(before.values())
    pooled = ProjectCopy(tmp_path / "pooled")
    pooled.edit_datacenter("dc2", lambda dc: dc.update(cidr_pool="10.99.0.0/16"))
    assert set(_keys(pooled).values()).isdisjoint(before.values())
    project.edit("catalog/messaging.yaml", lambda service: service.update(owner="team-chat"))
    assert set(_keys(project).values()).isdisjoint(before.values())
    code = tmp_path / "code"
    shutil.copytree(REPO / "webex_cloud", code / "webex_cloud", ignore=shutil.ignore_patterns("__pycache__"))
    copied = plan_keys(code, code, PYTHON, STACKS, pools=True)
    (code / "webex_cloud" / "naming.py").write_text("# changed\n", encoding="utf-8")
    assert set(plan_keys(code, code, PYTHON, STACKS, pools=True).values()).isdisjoint(copied.values())


def test_an_unusable_peer_is_keyed_by_its_bytes(project: ProjectCopy) -> None:
    """A render fails naming a broken peer's problems: two broken peers are two keys."""
    project.edit_datacenter("dc2", lambda dc: dc.update(cidr_pool="not a network"))
    first = _keys(project)
    project.edit_datacenter("dc2", lambda dc: dc.update(cidr_pool="still not a network"))
    assert _keys(project)["dc1"] != first["dc1"]


def test_another_code_keys_peers_by_their_bytes(project: ProjectCopy) -> None:
    """Peers read by this code's loader are faithful only to renders of this code."""
    by_pool = plan_keys(REPO, project.root, PYTHON, STACKS, pools=False)
    project.edit_datacenter("dc2", lambda dc: dc.update(region="RegionTwo"))
    assert plan_keys(REPO, project.root, PYTHON, STACKS, pools=False)["dc1"] != by_pool["dc1"]


def test_the_same_files_anywhere_have_the_same_keys(project: ProjectCopy, tmp_path: Path) -> None:
    copy = ProjectCopy(tmp_path / "elsewhere")
    assert _keys(project) == plan_keys(REPO, copy.root, PYTHON, STACKS, pools=True)


def test_what_no_render_reads_leaves_the_keys_alone(project: ProjectCopy) -> None:
    before = _keys(project)
    for folder in ("build/plan", ".venv/lib", ".git", "docs", "tests"):
        (project.root / folder).mkdir(parents=True)
        (project.root / folder / "noise").write_text("anything")
    assert _keys(project) == before


def test_a_kept_plan_is_found_under_its_key_only(tmp_path: Path) -> None:
    plan = tmp_path / "dc1.json"
    plan.write_text('{"stack": "dc1"}')
    store(tmp_path / "cache", "k1", plan)
    assert entry(tmp_path / "cache", "k1").read_text() == '{"stack": "dc1"}'
    assert not entry(tmp_path / "cache", "k2").exists()
