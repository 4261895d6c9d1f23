"""The services held at their last good release after an automatic rollback (``deployments/holds.yaml``).

The one owner of that file's format. A rollback (``python -m webex_cloud rollback``) returns a
stack to its last good deploy, but the repository still names the release that failed: without a hold,
the next unrelated merge would ship it again. The rollback therefore writes a hold per service it
rolled back, and the deploy workflow opens a pull request adding it. While a service is held, the
catalog loader (and so ``plan``, ``preview`` and the program under ``pulumi up``):

- plans the held, last good catalog file instead of the one that failed (its text is in the hold);
- accepts the last good text itself (a revert);
- refuses any other text of that file, naming the hold and the way out: fix the release, then remove
  the hold from ``deployments/holds.yaml`` in the same pull request.

The hold names catalog files by the SHA-256 of their text, so a change is recognised byte for byte.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ConfigDict, Field, model_validator

from webex_cloud import atomic
from webex_cloud.config.errors import CatalogError, Problem
from webex_cloud.config.models import Name, StrictModel
from webex_cloud.config.validation import validate
from webex_cloud.config.yaml_source import parse_yaml, read_text

HOLDS_FILE = "deployments/holds.yaml"
"""Relative to the checkout; committed, changed by pull request only."""

Digest = str


def digest(text: str) -> Digest:
    """How a hold names one text of a catalog file: ``sha256:<hex>`` of its UTF-8 bytes."""
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


class Hold(StrictModel):
    """One service held at its last good catalog file after a rollback."""

    # The held text is kept byte for byte: its digest names it.
    model_config = ConfigDict(**{**StrictModel.model_config, "str_strip_whitespace": False})

    held: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    """Digest of the last good catalog file: the text that is planned while the hold stands."""
    refused: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    """Digest of the catalog file whose release was rolled back: it is replaced by the held text."""
    catalog: str
    """The last good catalog file's text (from the stack's last-good record)."""
    stack: str
    """The stack whose failed deploy was rolled back."""
    commit: str
    """The commit whose deploy failed."""
    last_good_commit: str
    """The commit of the stack's last good deploy (where the held text comes from)."""
    since: str
    """When the rollback ran (UTC, ISO 8601)."""
    reason: str
    """Why the release was rolled back (the failed gate or bake), for the person who resolves it."""
    also: dict[str, str] = Field(default_factory=dict)
    """The other stacks whose rollback of the same release held this service: stack -> its reason
    (one hold per service, merged by the release's one hold pull request: rollback/hold_request.py)."""

    @model_validator(mode="after")
    def _catalog_is_the_held_text(self) -> Hold:
        if digest(self.catalog) != self.held:
            raise ValueError("catalog is not the text the digest `held` names: the hold was edited by hand")
        return self


class HoldsFile(StrictModel):
    holds: dict[Name, Hold] = Field(default_factory=dict)
    """Service name -> its hold."""


@dataclass(frozen=True)
class Holds:
    """The holds of one checkout, validated."""

    by_service: dict[str, Hold]

    def resolve(self, service: str, label: str, text: str) -> str:
        """The catalog text to plan for ``service``: the held text instead of the refused one.

        Raises CatalogError for any other text while the service is held.
        """
        hold = self.by_service.get(service)
        if hold is None:
            return text
        found = digest(text)
        if found == hold.refused:
            return hold.catalog
        if found == hold.held:
            return text
        raise CatalogError(
            [
                Problem(
                    label,
                    "",
                    f"service {service!r} is held at its last good release since the rollback of "
                    f"{hold.stack} at {hold.since} (commit {hold.commit[:12]}: {hold.reason}); this file "
                    f"changed while the hold stands, so it is refused. Fix the release, then remove "
                    f"holds.{service} from {HOLDS_FILE} in the same pull request",
                )
            ]
        )


class StackHolds(StrictModel):
    """One stack's rollback, as its deploy job hands it to the release's hold pull request."""

    stack: str
    commit: str
    """The commit whose deploy failed and was rolled back."""
    holds: dict[Name, Hold] = Field(default_factory=dict)
    """The services this rollback held (none when the failed release changed no catalog file)."""


def parse_holds(text: str, label: str) -> dict[str, Hold]:
    """A holds file's text, validated. Raises CatalogError naming ``label`` and the field."""
    raw = parse_yaml(text, label)
    return dict(validate(HoldsFile, raw if raw is not None else {}, label).holds)


def read_holds(project_dir: Path) -> Holds:
    """The checkout's holds (none when the file is absent). Raises CatalogError naming the field."""
    path = project_dir / HOLDS_FILE
    if not path.exists():
        return Holds({})
    return Holds(parse_holds(read_text(path, HOLDS_FILE), HOLDS_FILE))


def holds_text(holds: dict[str, Hold]) -> str:
    """The holds file's text: the one layout every writer (rollback, hold pull request) produces."""
    header = (
        "# Services held at their last good release after an automatic rollback\n"
        "# (webex_cloud/config/holds.py, docs/releasing.md section 6).\n"
        "# Remove a hold in the pull request that fixes the release.\n"
    )
    body = yaml.safe_dump(HoldsFile(holds=holds).model_dump(mode="json"), sort_keys=True, width=100)
    return header + body


def write_hold(project_dir: Path, service: str, hold: Hold) -> Path:
    """Add (or replace) the hold of ``service`` in the checkout's holds file, atomically."""
    current = read_holds(project_dir).by_service
    path = project_dir / HOLDS_FILE
    atomic.write_bytes(path, holds_text({**current, service: hold}).encode())
    return path
