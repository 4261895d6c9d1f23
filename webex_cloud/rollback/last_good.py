"""A stack's last good deploy (``deployments/<stack>/last-good.json`` beside its state): the one owner.

Written by the deploy job once a stack's `pulumi up` succeeded and its bake passed; read by the
rollback, which plans that data again with ``main``'s code. It holds the data itself, not only a
commit: the rollback must not depend on the repository still having (or agreeing on) that commit,
and the record is small (the catalog and one stack file). Each file carries its SHA-256, checked on
read, so a record edited or cut in the bucket is refused instead of deployed.

What is data (what a rollback restores): every file under ``catalog/`` (the services and the image
catalog), the holds file (``deployments/holds.yaml``: the held texts the loader planned at the time),
and the stack's own ``stacks/Pulumi.<stack>.yaml``. Everything else (the program, the policy pack,
the other stacks' files) is taken from the checkout the rollback runs in, ``main``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from webex_cloud.config.errors import field_path
from webex_cloud.config.holds import HOLDS_FILE, digest
from webex_cloud.paths import plain_relative, stack_file

FORMAT: Final = "webex-cloud.last-good/v1"
CATALOG = "catalog"


def record_key(stack: str) -> str:
    """Where the record lives, relative to the state backend's root (beside ``.pulumi/``)."""
    return f"deployments/{stack}/last-good.json"


class LastGoodError(ValueError):
    """A record that cannot be used; the message names where and why."""


class NoRecord(LastGoodError):
    """The stack has no last good deploy yet (never deployed, or a new stack): not a broken record."""


class DataFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    digest: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    text: str

    @model_validator(mode="after")
    def _digest_matches(self) -> DataFile:
        if digest(self.text) != self.digest:
            raise ValueError("the text does not match its digest: the record was edited or cut")
        return self


class LastGood(BaseModel):
    """One stack's last good deploy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["webex-cloud.last-good/v1"]
    stack: str = Field(min_length=1)
    commit: str = Field(min_length=1)
    """The commit that was deployed (``$GITHUB_SHA`` of the deploy run)."""
    recorded_at: str
    files: dict[str, DataFile]
    """Checkout-relative path -> its text: catalog/**, the holds file, the stack's own stack file."""
    refused: dict[str, str] = {}
    """Catalog file -> the digest of a release of it rolled back since this deploy, and the commit that
    named it: until a person resolves it (the hold pull request merged, or a fix), a deploy of a
    checkout that still names that text is refused (:func:`still_named`), so the next unrelated merge
    does not ship the bad release again. A new last good deploy starts with none."""

    @model_validator(mode="after")
    def _has_its_stack_file(self) -> LastGood:
        if stack_file(self.stack) not in self.files:
            raise ValueError(f"files has no {stack_file(self.stack)}")
        for path in self.files:
            if not _is_data(path, self.stack):
                raise ValueError(
                    f"files names {path!r}, which is not data (catalog/**, holds, the stack file)"
                )
        return self

    def catalog_texts(self) -> dict[str, str]:
        """``catalog/<service>.yaml`` -> its text: the service files only."""
        return {
            path: entry.text
            for path, entry in self.files.items()
            if path.startswith(f"{CATALOG}/") and path.count("/") == 1 and path.endswith(".yaml")
        }


def with_refused(record: LastGood, project_dir: Path, commit: str) -> LastGood:
    """``record`` marking every catalog file of ``project_dir`` (the release just rolled back) whose
    text is not the last good one."""
    refused = dict(record.refused)
    for path, good in record.catalog_texts().items():
        current = project_dir / path
        if current.is_file() and (text := current.read_text(encoding="utf-8")) != good:
            refused[path] = f"{digest(text)} {commit}"
    return record.model_copy(update={"refused": refused})


def still_named(record: LastGood, project_dir: Path, held: set[str]) -> list[str]:
    """The catalog files of ``project_dir`` that still name a release rolled back since the last good
    deploy, their service not held (a held service is planned at its last good text anyway)."""
    found: list[str] = []
    for path, mark in sorted(record.refused.items()):
        refused_digest, _, commit = mark.partition(" ")
        current = project_dir / path
        if Path(path).stem in held or not current.is_file():
            continue
        if digest(current.read_text(encoding="utf-8")) == refused_digest:
            found.append(f"{path} is the release rolled back after commit {commit[:12]}")
    return found


def _is_data(path: str, stack: str) -> bool:
    parts = path.split("/")
    return plain_relative(path) and (
        path in (HOLDS_FILE, stack_file(stack)) or (parts[0] == CATALOG and len(parts) > 1)
    )


def data_files(project_dir: Path, stack: str) -> dict[str, str]:
    """The checkout's data for ``stack``: what a record holds and a rollback restores."""
    found = {
        path.relative_to(project_dir).as_posix(): path
        for path in sorted((project_dir / CATALOG).rglob("*"))
        if path.is_file() and not path.is_symlink()
    }
    for extra in (HOLDS_FILE, stack_file(stack)):
        if (project_dir / extra).is_file():
            found[extra] = project_dir / extra
    return {relative: path.read_text(encoding="utf-8") for relative, path in found.items()}


def build(project_dir: Path, stack: str, commit: str, now: datetime | None = None) -> LastGood:
    """The record of the checkout as it was just deployed."""
    moment = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    files = {
        path: DataFile(digest=digest(text), text=text)
        for path, text in data_files(project_dir, stack).items()
    }
    return LastGood(format=FORMAT, stack=stack, commit=commit, recorded_at=moment, files=files)


def dumps(record: LastGood) -> bytes:
    return (json.dumps(record.model_dump(mode="json"), indent=1, sort_keys=True) + "\n").encode()


def loads(data: bytes, source: str, stack: str) -> LastGood:
    """Parse and check a record; it must be ``stack``'s. Raises LastGoodError naming the field."""
    try:
        document: Any = json.loads(data)
        record = LastGood.model_validate(document)
    except json.JSONDecodeError as error:
        raise LastGoodError(f"{source}: not JSON ({error.msg}); expected a {FORMAT} record") from None
    except ValidationError as error:
        first = error.errors()[0]
        where = field_path(first["loc"]) or "(top level)"
        raise LastGoodError(f"{source}: {where}: {first['msg']} (a {FORMAT} record)") from None
    if record.stack != stack:
        raise LastGoodError(f"{source}: the record is for stack {record.stack}, not {stack}")
    return record


@dataclass(frozen=True)
class Materialised:
    root: Path
    """A project folder: the checkout's code and other stacks, the record's data."""


def materialise(record: LastGood, code_dir: Path, dest: Path) -> Materialised:
    """Lay the record's data over a copy of the checkout at ``dest`` (absent or empty).

    The catalog is the record's whole (a service the failed release added is gone again), the holds
    file is the record's (or none), the stack's file is the record's; the virtualenv is the checkout's.
    """
    import shutil

    skipped = {".git", ".venv", "build", "out", CATALOG, "__pycache__", ".pytest_cache", ".mypy_cache"}
    shutil.copytree(
        code_dir,
        dest,
        ignore=lambda _d, names: [n for n in names if n in skipped],
        symlinks=True,
        dirs_exist_ok=True,
    )
    (dest / HOLDS_FILE).unlink(missing_ok=True)
    if (code_dir / ".venv").exists():
        (dest / ".venv").symlink_to((code_dir / ".venv").resolve())
    for relative, entry in record.files.items():
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(entry.text, encoding="utf-8")
    return Materialised(dest)
