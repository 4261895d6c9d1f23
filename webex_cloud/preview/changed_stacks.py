"""Which stacks a pull request can change: a stack whose inputs are the same in the base checkout and
in this branch renders the same plan (plans are a function of their input files and the code, byte for
byte), so its check would find nothing new and is not run again.

Conservative by construction: a file is an input unless it is known to be read by no render, and
every doubt re-plans every stack:

- the code: every file of the code that runs and of the project folder but their stack and catalog
  files (:data:`NOT_READ` aside): any file that differs, is added or is gone, and every stack changed.
  That includes the policy pack, the scheduler filters, the requirements, locks and constraints, the
  scripts, and the workflows under ``.github/``: a workflow decides what the check is given and run
  with, so a change to it is checked in full, as the check it changes would be;
- the stack files: a stack's own file changed, that stack; a file under ``stacks/`` added or removed,
  one that is no stack file changed, or a changed stack file's ``cidr_pool`` changed or unreadable
  (every stack derives its ``peer-dc`` source from its peers' pools), every stack;
- the catalog: a service file changed, the stacks its service runs in on either side (``datacenters``,
  absent: every stack); a file under ``catalog/`` added or removed, one that cannot be read as a
  service or names no known stack it runs in, or any other file (the image catalog) changed, every
  stack.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence, Set
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import yaml

from webex_cloud.paths import STACK_FILE_GLOB, stack_file, stack_of

NOT_READ = frozenset(
    {
        ".git",
        ".venv",
        "build",
        "__pycache__",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        ".hypothesis",
        "tests",
        "docs",
        "benchmarks",
        ".ci",
    }
)
"""Folders no render reads and no pull-request check runs (version control, environments, outputs,
caches, tests, documentation, benchmarks, the local test runner), at any depth; Markdown files at the top
of a checkout too. Not ``.github``: the workflows decide how the check runs."""
INPUT_FOLDERS = ("stacks", "catalog")
"""The project's input files, judged per stack; everything else of a checkout is code."""
DATACENTER_KEY = "webex-cloud:datacenter"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def code_files(root: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file of ``root`` that is code: not an input file, not in
    :data:`NOT_READ`. Linked folders are followed (a project may link its policy pack)."""
    found: dict[str, str] = {}
    for folder, dirs, names in os.walk(root, followlinks=True):
        here = Path(folder)
        top = here == root
        dirs[:] = sorted(d for d in dirs if d not in NOT_READ and not (top and d in INPUT_FOLDERS))
        for name in names:
            path = here / name
            # A worktree's .git is a file naming its repository: version control all the same.
            if (top and name.endswith(".md")) or name in NOT_READ:
                continue
            if path.is_file():
                found[path.relative_to(root).as_posix()] = _digest(path)
    return found


def same_code(code: Path, project: Path, base: Path) -> bool:
    """The code that runs here (``code``, and ``project`` when that is another folder) is the base's:
    every file of each is in the base with the same bytes, and the base has no file neither has."""
    trees = [code_files(root) for root in dict.fromkeys((code, project))]
    based = code_files(base)
    ours = set().union(*trees)
    return set(based) <= ours and all(based.get(name) == sha for tree in trees for name, sha in tree.items())


def _load(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None


def _pool(path: Path) -> str | None:
    document = _load(path)
    config = document.get("config") if isinstance(document, dict) else None
    datacenter = config.get(DATACENTER_KEY) if isinstance(config, dict) else None
    pool = datacenter.get("cidr_pool") if isinstance(datacenter, dict) else None
    return str(pool) if pool is not None else None


def _runs_in(path: Path, stacks: Set[str]) -> set[str] | None:
    """The stacks a catalog file's service runs in, or None when the file is no readable service."""
    document = _load(path)
    if not isinstance(document, dict) or not isinstance(document.get("name"), str):
        return None
    datacenters = document.get("datacenters")
    if datacenters is None:
        return set(stacks)
    if not isinstance(datacenters, list) or not all(isinstance(d, str) for d in datacenters):
        return None
    return set(datacenters)


def files_under(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` by relative path -> SHA-256."""
    if not folder.is_dir():
        return {}
    return {p.relative_to(folder).as_posix(): _digest(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def _everything(stacks: Sequence[str], why: str) -> dict[str, str]:
    return dict.fromkeys(stacks, why)


def changed_stacks(code: Path, project: Path, base: Path, stacks: Sequence[str]) -> dict[str, str]:
    """Stack -> why it must be checked again, for every stack of ``stacks`` whose inputs differ
    between the base checkout ``base`` and this branch (the code ``code`` on the project ``project``);
    a stack not in the result has the same inputs on both sides."""
    if not same_code(code, project, base):
        return _everything(stacks, "the code differs from the base's")
    ours, theirs = files_under(project / "stacks"), files_under(base / "stacks")
    if set(ours) != set(theirs):
        return _everything(stacks, "a file under stacks/ was added or removed")
    why: dict[str, str] = {}
    for name in sorted(name for name in ours if ours[name] != theirs[name]):
        if not fnmatch(name, STACK_FILE_GLOB):
            return _everything(stacks, f"stacks/{name}, not a stack file, changed")
        stack = stack_of(name)
        pool = _pool(project / "stacks" / name)
        if pool is None or pool != _pool(base / "stacks" / name):
            return _everything(
                stacks, f"the cidr_pool of {stack_file(stack)}, which every stack reads, changed"
            )
        why[stack] = f"{stack_file(stack)} changed"
    known = {stack_of(name) for name in ours}
    ours, theirs = files_under(project / "catalog"), files_under(base / "catalog")
    if set(ours) != set(theirs):
        return _everything(stacks, "a file under catalog/ was added or removed")
    for name in sorted(name for name in ours if ours[name] != theirs[name]):
        runs = [_runs_in(root / "catalog" / name, known) for root in (project, base)]
        if "/" in name or not name.endswith(".yaml"):
            return _everything(stacks, f"catalog/{name}, not a service file (the image catalog), changed")
        if runs[0] is None or runs[1] is None or not (runs[0] | runs[1]) <= known or not runs[0] | runs[1]:
            return _everything(stacks, f"catalog/{name} changed and names no known stack it runs in")
        for stack in sorted(runs[0] | runs[1]):
            why.setdefault(stack, f"catalog/{name} changed")
    return {stack: why[stack] for stack in stacks if stack in why}
