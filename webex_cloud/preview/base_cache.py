"""Base plans reused while the base checkout is unchanged: content-addressed, never by commit name.

A base plan is a function of the base checkout's files (its code, program, catalog, stack files,
requirements) and of the interpreter that renders it. The key is the SHA-256 of all of them with
the stack's name, so any change to any of those files, or another interpreter, is another key and a
fresh render; the cache is never asked whether it is still valid. What is not read by a render is
left out of the digest: version-control metadata, virtual environments, build outputs and caches.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from webex_cloud import atomic

SKIPPED_DIRS = frozenset(
    {".git", ".venv", "build", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
)
"""Folders of a checkout that no render reads (pruned from the walk, symbolic links never followed)."""


def checkout_digest(checkout: Path, python: Path) -> str:
    """SHA-256 of every file of ``checkout`` (path and content, in sorted order) and the interpreter."""
    digest = hashlib.sha256(f"python {python}\0".encode())
    files: list[str] = []
    for folder, dirs, names in os.walk(checkout):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        files += [os.path.join(folder, name) for name in names]
    for path in sorted(files):
        if os.path.islink(path) and not os.path.isfile(path):
            continue  # a dangling link reads as nothing
        relative = Path(path).relative_to(checkout).as_posix()
        with open(path, "rb") as stream:
            digest.update(relative.encode() + b"\0" + hashlib.sha256(stream.read()).digest())
    return digest.hexdigest()


def entry(cache: Path, digest: str, stack: str) -> Path:
    """Where the base plan of ``stack`` rendered from the checkout with ``digest`` is kept."""
    key = hashlib.sha256(f"{digest}\0{stack}".encode()).hexdigest()
    return cache / f"{key}.json"


def store(cache: Path, digest: str, stack: str, plan: Path) -> None:
    """Keep a base plan that rendered (atomically: a reader never sees part of one)."""
    atomic.write_bytes(entry(cache, digest, stack), plan.read_bytes())
