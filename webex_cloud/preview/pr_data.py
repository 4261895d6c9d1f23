"""A pull request's data, read from git by main's code: what may reach the credentialed preview.

The credentialed preview (`.github/workflows/pr-preview-credentialed.yml`) runs main's code and main's
policy pack with a read-only identity; of the pull request it takes only **data**, read here as git
blobs (``git diff --raw``, ``git cat-file``): nothing of the branch is checked out or run.

Data is an allowlist; every other changed path is **code**, and a pull request with any code change
previews only after a maintainer approves it:

- ``catalog/**``: added, changed or deleted, as a regular file (mode 100644) under a plain name
  (:func:`webex_cloud.paths.plain_relative`): no symlink, no executable, no submodule, no ``..``;
- an existing ``stacks/Pulumi.<stack>.yaml`` changed in place (a regular file on both sides) that still
  reads as a stack file and leaves the fields main owns as they were: every top-level key but ``config``
  (the secrets provider and its salt), every ``openstack:*`` key (endpoints, cloud name, CA, region: a
  pull request pointing ``authUrl`` elsewhere would send the credentials there) and, under the
  datacenter key, :data:`OWNED_DATACENTER_FIELDS`: the controllers' deploy settings (the typed units,
  interpreter and directories that run as root, :class:`webex_cloud.config.models.ControllerDeploy`),
  the provider's ``region`` and the ``identities`` (clouds.yaml entries) the commands act as.

An encrypted value (``secure:``) the branch put where main holds no identical one is left out and
makes the stack file code (:func:`_without_foreign_ciphertext`).

A new, deleted or renamed stack file is code (a new datacenter is reviewed, and its preview environment
exists only once an admin made it). Whatever the verdict, each overlaid stack file keeps **main's** copy
of the fields main owns (:func:`protect`), so even an approved pull request cannot move them.

The overlay is written with a verdict naming the SHA-256 of every file; :func:`lay_over` checks both
again in the job that holds the secrets and lays the data over main's checkout.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from webex_cloud.config.errors import CatalogError, field_path
from webex_cloud.config.yaml_source import parse_yaml
from webex_cloud.input_files import MAX_FILE_BYTES
from webex_cloud.paths import STACKS_DIR, known_stacks, plain_relative, stack_file, stack_of
from webex_cloud.preview.changed_stacks import DATACENTER_KEY, changed_stacks

FORMAT: Final = "webex-cloud.pr-data/v1"
CATALOG: Final = "catalog"
REGULAR: Final = "100644"
ABSENT: Final = "000000"
PROVIDER_PREFIX: Final = "openstack:"
OWNED_DATACENTER_FIELDS: Final = (("controllers", "deploy"), ("region",), ("identities",))
"""Under the datacenter key, what main owns besides ``openstack:*``: the controllers' deploy settings
(units, interpreter, directories that run as root), the region the program's provider picks its
endpoints by, and the clouds.yaml entries the commands authenticate as."""
_STACK_PATH: Final = re.compile(r"stacks/Pulumi\.([A-Za-z0-9_][A-Za-z0-9_.-]*)\.yaml")
_SHA: Final = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")
_MODES: Final = {"120000": "a symlink", "160000": "a submodule", "100755": "an executable"}

Kind = Literal["data", "code"]


class PrDataError(ValueError):
    """Input that cannot be classified or laid over; the message names what and the fix."""


class PathVerdict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Kind
    reason: str


class Verdict(BaseModel):
    """What a pull request changes, as main's code judged it; the overlay's manifest."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["webex-cloud.pr-data/v1"]
    kind: Kind
    """``code`` when any changed path is code: the preview waits for a maintainer's approval."""
    base_sha: str = Field(pattern=_SHA.pattern)
    head_sha: str = Field(pattern=_SHA.pattern)
    merge_base: str = Field(pattern=_SHA.pattern)
    """What the branch's changes are read against (``git merge-base base head``)."""
    paths: dict[str, PathVerdict]
    stacks: list[str]
    """main's stacks whose inputs the data changes: one credentialed preview each."""
    files: dict[str, str]
    """Overlay path -> SHA-256 (hex) of its bytes."""
    deleted: list[str]
    """Catalog files the pull request deletes: removed from main's tree when the overlay is laid."""


@dataclass(frozen=True)
class Change:
    old_mode: str
    new_mode: str
    new_blob: str
    status: str
    path: str


def _git(repo: Path, *args: str) -> bytes:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False, timeout=120)
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise PrDataError(f"git {' '.join(args)} in {repo}: {message[-1] if message else 'failed'}")
    return done.stdout


def _commit(repo: Path, revision: str, option: str) -> str:
    if not _SHA.fullmatch(revision):
        raise PrDataError(f"{option} {revision!r}: give the full commit SHA (40 hex digits)")
    try:
        return _git(repo, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}").decode().strip()
    except PrDataError:
        raise PrDataError(
            f"{option} {revision}: no such commit in {repo}; fetch it first (git fetch origin {revision})"
        ) from None


def changes(repo: Path, merge_base: str, head: str) -> list[Change]:
    """Every path the branch changed since ``merge_base``, with its modes; no rename detection (a
    rename is a deletion and an addition, each judged)."""
    raw = _git(
        repo, "diff", "--raw", "-z", "--no-renames", "--no-ext-diff", "--no-textconv", merge_base, head
    )
    fields = raw.split(b"\0")
    found: list[Change] = []
    for header, name in zip(fields[0::2], fields[1::2], strict=False):
        if not header:
            break
        old_mode, new_mode, _old_blob, new_blob, status = header.decode().lstrip(":").split(" ")
        found.append(Change(old_mode, new_mode, new_blob, status, name.decode("utf-8", "surrogateescape")))
    return found


def _blob(repo: Path, blob: str, path: str) -> bytes:
    size = int(_git(repo, "cat-file", "-s", blob))
    if size > MAX_FILE_BYTES:
        raise PrDataError(f"{path}: {size} bytes, more than any data file may hold ({MAX_FILE_BYTES})")
    return _git(repo, "cat-file", "blob", blob)


def _document(text: bytes | None, label: str) -> dict[str, Any] | None:
    """A stack file as a mapping with a ``config`` mapping, or None (not readable as one)."""
    if text is None:
        return None
    try:
        document = parse_yaml(text.decode("utf-8"), label)
    except (UnicodeDecodeError, CatalogError):
        return None
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        return None
    return document


_MISSING: Final = object()


def _at(config: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = config.get(DATACENTER_KEY, _MISSING)
    for key in path:
        node = node.get(key, _MISSING) if isinstance(node, dict) else _MISSING
    return node


def _put(config: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """``config`` with ``value`` at ``path`` under the datacenter key (removed for ``_MISSING``),
    copying each mapping on the way; a path through something not a mapping is left to the loader."""
    node: Any = config.get(DATACENTER_KEY)
    if not isinstance(node, dict):
        return config
    top = node = dict(node)
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            return config
        node[key] = node = dict(child)
    if value is _MISSING:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    return {**config, DATACENTER_KEY: top}


def owned_by_main(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The fields main owns that differ between two stack files, by name."""
    moved = [key for key in sorted(set(old) | set(new)) if key != "config" and old.get(key) != new.get(key)]
    old_config, new_config = old["config"], new["config"]
    provider = {k for k in set(old_config) | set(new_config) if str(k).startswith(PROVIDER_PREFIX)}
    moved += [key for key in sorted(provider, key=str) if old_config.get(key) != new_config.get(key)]
    moved += [
        f"{DATACENTER_KEY}.{'.'.join(path)}"
        for path in OWNED_DATACENTER_FIELDS
        if _at(old_config, path) != _at(new_config, path)
    ]
    return moved


def _encrypted(value: Any) -> bool:
    """A value `pulumi config set --secret` wrote, at any depth of structured config."""
    return isinstance(value, dict) and set(value) == {"secure"}


def _without_foreign_ciphertext(node: Any, main: Any, where: str) -> tuple[Any, list[str]]:
    """``node`` without the encrypted values main does not hold at the same place, and their paths.

    A branch cannot make ciphertext (it has no passphrase), but it can move main's: the controllers'
    or the provider's secret copied into a plain field such as a flavor name would be decrypted by the
    credentialed preview (Pulumi hands the program a structured value's secure leaves decrypted) and
    printed in its report. Only ciphertext main keeps at that very path passes."""
    if _encrypted(node):
        return (node, []) if node == main else (_MISSING, [where])
    if isinstance(node, dict):
        kept: dict[Any, Any] = {}
        dropped: list[str] = []
        for key, value in node.items():
            theirs = main.get(key, _MISSING) if isinstance(main, dict) else _MISSING
            clean, found = _without_foreign_ciphertext(value, theirs, f"{where}.{key}")
            dropped += found
            if clean is not _MISSING:
                kept[key] = clean
        return kept, dropped
    if isinstance(node, list):
        items: list[Any] = []
        dropped = []
        for index, value in enumerate(node):
            theirs = main[index] if isinstance(main, list) and index < len(main) else _MISSING
            clean, found = _without_foreign_ciphertext(value, theirs, f"{where}[{index}]")
            dropped += found
            if clean is not _MISSING:
                items.append(clean)
        return items, dropped
    return node, []


def protect(head: dict[str, Any], main: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``head``'s stack file with main's copy of every field main owns (:func:`owned_by_main`) and
    without ciphertext main does not hold at the same place; and the paths of that ciphertext."""
    config = {k: v for k, v in head["config"].items() if not str(k).startswith(PROVIDER_PREFIX)}
    config |= {k: v for k, v in main["config"].items() if str(k).startswith(PROVIDER_PREFIX)}
    for path in OWNED_DATACENTER_FIELDS:
        config = _put(config, path, _at(main["config"], path))
    config, foreign = _without_foreign_ciphertext(config, main["config"], "config")
    return {**{k: v for k, v in main.items() if k != "config"}, "config": config}, foreign


def _stack_text(document: dict[str, Any]) -> bytes:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True).encode()


def _judge(repo: Path, change: Change, merge_base: str) -> tuple[PathVerdict, bytes | None]:
    """One changed path's verdict, and the bytes the overlay holds for it (None: not overlaid)."""
    path, modes = change.path, {change.old_mode, change.new_mode} - {ABSENT}
    if not plain_relative(path):
        return PathVerdict(kind="code", reason="not a plain file name (letters, digits, ._- segments)"), None
    odd = sorted(_MODES.get(mode, f"mode {mode}") for mode in modes if mode != REGULAR)
    parts = path.split("/")
    if parts[0] == CATALOG and len(parts) > 1:
        if odd:
            return PathVerdict(kind="code", reason=f"under catalog/ but {' and '.join(odd)}"), None
        if change.status == "D":
            return PathVerdict(kind="data", reason="catalog file deleted"), None
        return PathVerdict(kind="data", reason="catalog file"), _blob(repo, change.new_blob, path)
    if not _STACK_PATH.fullmatch(path):
        return PathVerdict(
            kind="code", reason="not data (only catalog/** and existing stack files are)"
        ), None
    if change.status != "M":
        what = {"A": "a new stack file", "D": "a deleted stack file"}.get(
            change.status, "a stack file changed type"
        )
        return PathVerdict(
            kind="code", reason=f"{what}: a datacenter added or removed is reviewed as code"
        ), None
    if odd:
        return PathVerdict(kind="code", reason=f"stack file, but {' and '.join(odd)}"), None
    main_text = repo / path
    if not main_text.is_file() or main_text.is_symlink():
        return PathVerdict(kind="code", reason="no longer a stack file on main: rebase the branch"), None
    old = _document(_git(repo, "cat-file", "blob", f"{merge_base}:{path}"), path)
    new_bytes = _blob(repo, change.new_blob, path)
    new = _document(new_bytes, path)
    ours = _document(main_text.read_bytes(), path)
    if old is None or new is None or ours is None:
        return PathVerdict(
            kind="code", reason="not readable as a stack file (YAML with a config mapping)"
        ), None
    protected, foreign = protect(new, ours)
    overlaid = _stack_text(protected)
    if foreign:
        reason = (
            f"carries encrypted values main does not hold there: {', '.join(foreign)} (left out: the "
            "preview would decrypt them into its report; a new secret is set on main by its operator)"
        )
        return PathVerdict(kind="code", reason=reason), overlaid
    if moved := owned_by_main(old, new):
        reason = f"changes fields main owns: {', '.join(moved)} (the preview keeps main's)"
        return PathVerdict(kind="code", reason=reason), overlaid
    return PathVerdict(kind="data", reason="stack file, main's provider and controller fields kept"), overlaid


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def classify(repo: Path, base: str, head: str, out: Path) -> Verdict:
    """Judge the branch ``head`` against ``base`` in ``repo`` (main's checkout, holding both commits'
    objects) and write ``out/overlay/`` (the data files) and ``out/verdict.json``."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise PrDataError(f"--out {out}: exists and is not an empty folder; give a new folder")
    if not (repo / ".git").exists():
        raise PrDataError(f"--repo {repo}: not a git checkout; give main's checkout with both commits")
    base_sha, head_sha = _commit(repo, base, "--base"), _commit(repo, head, "--head")
    merge_base = _git(repo, "merge-base", base_sha, head_sha).decode().strip()
    paths: dict[str, PathVerdict] = {}
    overlay: dict[str, bytes] = {}
    deleted: list[str] = []
    for change in changes(repo, merge_base, head_sha):
        judged, data = _judge(repo, change, merge_base)
        paths[change.path] = judged
        if data is not None:
            overlay[change.path] = data
        elif judged.kind == "data":
            deleted.append(change.path)
    kind: Kind = "code" if any(v.kind == "code" for v in paths.values()) else "data"
    for relative, data in overlay.items():
        target = out / "overlay" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    (out / "overlay").mkdir(parents=True, exist_ok=True)
    files = {relative: sha256(data) for relative, data in sorted(overlay.items())}
    stacks = _affected(repo, out / "overlay", files, deleted)
    verdict = Verdict(
        format=FORMAT,
        kind=kind,
        base_sha=base_sha,
        head_sha=head_sha,
        merge_base=merge_base,
        paths=dict(sorted(paths.items())),
        stacks=stacks,
        files=files,
        deleted=sorted(deleted),
    )
    (out / "verdict.json").write_bytes(dumps(verdict))
    return verdict


def _affected(repo: Path, overlay: Path, files: dict[str, str], deleted: list[str]) -> list[str]:
    """main's stacks whose inputs the overlay changes, as the offline check decides it (one owner:
    :func:`changed_stacks` over main's inputs and main's inputs with the overlay laid over them)."""
    if not files and not deleted:
        return []
    stacks = known_stacks(repo)
    with tempfile.TemporaryDirectory(prefix="pr-data-") as scratch:
        project = Path(scratch)
        for folder in (STACKS_DIR.name, CATALOG):
            if (repo / folder).is_dir():
                shutil.copytree(repo / folder, project / folder, symlinks=True)
        _write(project, overlay, files, deleted)
        return sorted(changed_stacks(repo, project, repo, stacks))


def dumps(verdict: Verdict) -> bytes:
    return (json.dumps(verdict.model_dump(mode="json"), indent=1, sort_keys=True) + "\n").encode()


def load_verdict(path: Path, expected_sha256: str) -> Verdict:
    """The verdict at ``path``, refused unless its bytes have the SHA-256 the classify job reported."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise PrDataError(
            f"{path}: cannot be read ({error.strerror}); download the pr-data artifact"
        ) from None
    if sha256(data) != expected_sha256:
        raise PrDataError(f"{path}: its SHA-256 is not the one the classify job reported: refusing it")
    try:
        return Verdict.model_validate_json(data)
    except ValidationError as error:
        first = error.errors()[0]
        raise PrDataError(f"{path}: {field_path(first['loc']) or '(top level)'}: {first['msg']}") from None


def _write(project: Path, overlay: Path, files: dict[str, str], deleted: list[str]) -> None:
    for relative in files:
        target = project / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)  # a symlink of main's is replaced, never written through
        target.write_bytes((overlay / relative).read_bytes())
    for relative in deleted:
        (project / relative).unlink(missing_ok=True)


def lay_over(project: Path, overlay: Path, verdict: Verdict) -> list[str]:
    """Check the overlay against the verdict and lay it over main's checkout ``project``: each file's
    SHA-256, no file the verdict does not name, every path data-shaped, every stack file an existing
    one of main's with main's owned fields (re-imposed here, whatever the overlay says). Returns the
    paths written or removed."""
    present = sorted(
        p.relative_to(overlay).as_posix() for p in overlay.rglob("*") if p.is_symlink() or not p.is_dir()
    )
    if extra := sorted(set(present) - set(verdict.files)):
        raise PrDataError(f"{overlay}: holds {', '.join(extra)}, which the verdict does not name")
    for relative, expected in verdict.files.items():
        source = overlay / relative
        if not source.is_file() or source.is_symlink():
            raise PrDataError(f"{overlay}: {relative} is missing or not a regular file")
        if sha256(source.read_bytes()) != expected:
            raise PrDataError(f"{overlay}: {relative} does not have the SHA-256 the verdict names")
    for relative in [*verdict.files, *verdict.deleted]:
        parts = relative.split("/")
        catalog = parts[0] == CATALOG and len(parts) > 1
        if not plain_relative(relative) or not (catalog or _STACK_PATH.fullmatch(relative)):
            raise PrDataError(f"verdict names {relative!r}, which is not data (catalog/**, stack files)")
        if not catalog and relative in verdict.deleted:
            raise PrDataError(f"verdict deletes {relative}: a stack file is never deleted by data")
    protected: dict[str, bytes] = {}
    for relative in verdict.files:
        if not _STACK_PATH.fullmatch(relative):
            continue
        stack = stack_of(relative)
        ours = project / stack_file(stack)
        main = _document(ours.read_bytes(), relative) if ours.is_file() and not ours.is_symlink() else None
        new = _document((overlay / relative).read_bytes(), relative)
        if main is None or new is None:
            raise PrDataError(
                f"{relative}: main has no readable stack file {stack} for it, or the overlay's is not one"
            )
        protected[relative] = _stack_text(protect(new, main)[0])
    with tempfile.TemporaryDirectory(prefix="pr-data-") as scratch:
        staged = Path(scratch)
        for relative in verdict.files:
            (staged / relative).parent.mkdir(parents=True, exist_ok=True)
            (staged / relative).write_bytes(protected.get(relative) or (overlay / relative).read_bytes())
        _write(project, staged, dict(verdict.files), list(verdict.deleted))
    return sorted([*verdict.files, *verdict.deleted])
