"""Plans by content, per stack: a stack whose plan inputs are the same in two checkouts has one plan.

A stack's plan is a function of what its render reads (read with an audit hook on `open`:
tests/preview/test_plan_keys.py): the code that runs (``webex_cloud``, ``__main__.py``, the
scheduler filters whose wheel it builds, the requirements), the whole ``catalog/`` (services and the
image catalog), the stack's own file, of every other stack's file only its ``cidr_pool`` (the
``peer-dc`` source; a peer whose file is unusable fails the render: webex_cloud/config/loader.py
``peer_pool``), and the interpreter that renders it. The key is the SHA-256 of all of them, so:

- a pull request that edits ``stacks/Pulumi.dc3.yaml`` (not its pool) changes dc3's key only: every
  other stack's plan is rendered once, this branch's and the base's being the same bytes;
- a change to the catalog, the code or the requirements changes every key;
- a kept plan is reused only under its own key: the cache is never asked whether it is still valid.

The files are those :func:`webex_cloud.preview.changed_stacks.code_files` counts as code (every file
of the checkout but documentation, tests, benchmarks, caches and outputs: conservative, a file no render
reads but that changed re-plans all) plus the inputs above. A peer's pool is what *this* code's loader
makes of its file: faithful to a render only by this code, so a checkout with other code is keyed by
its peers' bytes instead (``pools=False``), a key no render of this code shares.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from fnmatch import fnmatch
from pathlib import Path

from webex_cloud import atomic
from webex_cloud.config.errors import CatalogError
from webex_cloud.config.loader import peer_pool
from webex_cloud.paths import STACK_FILE_GLOB, stack_of
from webex_cloud.preview.changed_stacks import code_files, files_under


def plan_keys(
    code: Path, project: Path, python: Path, stacks: Sequence[str], *, pools: bool
) -> dict[str, str]:
    """Stack -> the key of its plan as the code checked out in ``code`` renders it from the project
    ``project`` (the same folder, or a ``--project``) with ``python``. ``pools``: summarise each peer
    by its pool as this code's loader reads it (only when ``code`` is this code, or file for file the
    same); else by its bytes."""
    shared = hashlib.sha256(f"python {python}\0".encode())
    # A path that differs between the code and the project folder is both entries: never a match.
    code_entries = set().union(*(code_files(root).items() for root in dict.fromkeys((code, project))))
    for path, sha in sorted(code_entries):
        shared.update(f"code {path} {sha}\0".encode())
    for path, sha in sorted(files_under(project / "catalog").items()):
        shared.update(f"catalog {path} {sha}\0".encode())
    own: dict[str, str] = {}
    for path, sha in sorted(files_under(project / "stacks").items()):
        if "/" not in path and fnmatch(path, STACK_FILE_GLOB):
            own[stack_of(path)] = sha
        else:  # not a stack file: read by nothing known, so kept whole
            shared.update(f"stacks {path} {sha}\0".encode())
    seen = {peer: _as_peer(project, peer, sha, pools) for peer, sha in own.items()}
    common = shared.hexdigest()
    keys: dict[str, str] = {}
    for stack in stacks:
        key = hashlib.sha256(f"{common}\0stack {stack} {own.get(stack, 'absent')}\0".encode())
        for peer, summary in sorted(seen.items()):
            if peer != stack:
                key.update(f"peer {peer} {summary}\0".encode())
        keys[stack] = key.hexdigest()
    return keys


def _as_peer(project: Path, peer: str, sha: str, pools: bool) -> str:
    """What another stack's render reads of ``peer``'s file (module docstring)."""
    if not pools:
        return f"file {sha}"
    try:
        return f"pool {peer_pool(project, peer)}"
    except CatalogError:  # the render fails naming the file's problems: its bytes say them
        return f"unusable {sha}"


def entry(cache: Path, key: str) -> Path:
    """Where the plan with ``key`` (:func:`plan_keys`) is kept."""
    return cache / f"{key}.json"


def store(cache: Path, key: str, plan: Path) -> None:
    """Keep a plan that rendered (atomically: a reader never sees part of one)."""
    atomic.write_bytes(entry(cache, key), plan.read_bytes())
