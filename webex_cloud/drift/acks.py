"""Acknowledged drift: a committed file per stack (``drift-acks/<stack>.yaml``, docs/drift.md).

Each entry names the resource (the drift's ``resource``: a URN, or ``host/<name>``...), the field, the
sha256 of the observed value (the report prints it), the reason and an expiry date. It matches only that
exact observed value, so a drift that changes again blocks again; after its expiry it matches nothing.
An acknowledged drift is still reported, with its reason, but no longer blocks.

```yaml
acknowledgements:
  - resource: urn:pulumi:dc1::webex-cloud::...::dc1-messaging-pod-0-app-0
    field: flavorId
    observed_sha256: 3f0c...
    reason: INC-4711 emergency resize, catalog change in review
    expires: 2026-12-31
```
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from webex_cloud.drift.findings import Drift

MAX_DAYS = 366
"""An acknowledgement may not outlive a year: drift is fixed or absorbed by the catalog, not kept."""


class AckError(Exception):
    """An unusable acknowledgement file (exit 2): names the file, the entry, the field and the fix."""


class Acknowledgement(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    resource: str = Field(min_length=1)
    field: str = ""
    observed_sha256: str
    reason: str = Field(min_length=3)
    expires: dt.date

    @field_validator("observed_sha256")
    @classmethod
    def _hex(cls, value: str) -> str:
        if not re.fullmatch(r"[0-9a-f]{64}", value):
            raise ValueError("must be the 64 lowercase hex digits the drift report prints as sha256")
        return value


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    acknowledgements: list[Acknowledgement] = Field(default_factory=list)


@dataclass(frozen=True)
class Acks:
    path: str
    entries: tuple[Acknowledgement, ...]


def read_acks(path: Path, today: dt.date) -> Acks:
    """The file's entries (none when it does not exist). Raises AckError."""
    if not path.exists():
        return Acks(str(path), ())
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise AckError(f"{path}: not readable YAML ({error}); fix the file (docs/drift.md)") from None
    try:
        parsed = _File.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the file"
        raise AckError(
            f"{path}: {where}: {first['msg']}; each entry needs resource, field, observed_sha256, reason "
            "and expires (docs/drift.md)"
        ) from None
    for i, entry in enumerate(parsed.acknowledgements):
        if entry.expires > today + dt.timedelta(days=MAX_DAYS):
            raise AckError(
                f"{path}: acknowledgements.{i}.expires: {entry.expires} is more than {MAX_DAYS} days away; "
                "acknowledge for less, and absorb a lasting change into the catalog"
            )
    return Acks(str(path), tuple(parsed.acknowledgements))


def apply_acks(found: list[Drift], acks: Acks, today: dt.date) -> tuple[list[Drift], list[str]]:
    """The drift with matching acknowledgements applied, and notes on entries that matched nothing."""
    used: set[int] = set()
    out = []
    for drift in found:
        for i, entry in enumerate(acks.entries):
            if (entry.resource, entry.field, entry.observed_sha256) == (
                drift.resource,
                drift.field,
                drift.observed_digest,
            ) and entry.expires >= today:
                drift = replace(drift, acknowledged=f"{entry.reason} (until {entry.expires})")
                used.add(i)
                break
        out.append(drift)
    notes = []
    for i, entry in enumerate(acks.entries):
        if i in used:
            continue
        why = (
            f"expired on {entry.expires}"
            if entry.expires < today
            else "matches no drift now (fixed, or the observed value changed)"
        )
        notes.append(f"{acks.path}: acknowledgements.{i} ({entry.resource} {entry.field}) {why}; remove it")
    return out, notes
