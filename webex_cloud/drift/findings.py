"""One difference found by drift, and the digest an acknowledgement names it by."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from webex_cloud.drift.classes import CLASSES, Risk, Side, Up


def digest(value: Any) -> str:
    """sha256 of the canonical JSON of an observed value (keys sorted, no spaces): what an
    acknowledgement pins, so that it matches only that exact observed value."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Drift:
    kind: str
    """A key of webex_cloud.drift.classes.CLASSES."""
    resource: str
    """The URN of a managed resource, or ``<type>/<cloud id>`` (``host/<name>``) of an unmanaged one."""
    name: str
    cloud_id: str
    field: str
    """The input or attribute that differs (``""``: the whole resource)."""
    recorded: Any
    """The value the checkpoint holds (None: nothing recorded)."""
    observed: Any
    """The value the cloud or the placement check shows now (None: gone)."""
    message: str
    up: Up
    risk: Risk
    planned: Any = None
    """The program's value, when the pending change touches the same field."""
    action: str = ""
    """A pending change's action (``create``, ``update``, ``replace``, ``delete``)."""
    acknowledged: str = ""
    """The acknowledgement's reason, when one matches."""
    notes: tuple[str, ...] = ()
    cause: dict[str, Any] | None = None
    """What broke a placement rule, from the servers' instance actions (webex_cloud/audit/moves.py):
    ``known``, ``says`` and the ``moves`` blamed; None where drift has no cause to tell."""
    fix: str = ""
    """The repair, where the owner of the rule knows one (a move back through the scheduler)."""

    @property
    def side(self) -> Side:
        return CLASSES[self.kind].side

    @property
    def observed_digest(self) -> str:
        return digest(self.observed)

    @property
    def blocking(self) -> bool:
        return self.risk is Risk.BLOCK and not self.acknowledged


def make(
    kind: str,
    resource: str,
    name: str,
    cloud_id: str,
    path: str,
    recorded: Any,
    observed: Any,
    message: str,
    *,
    up: Up | None = None,
    risk: Risk | None = None,
    planned: Any = None,
    action: str = "",
    cause: dict[str, Any] | None = None,
    fix: str = "",
) -> Drift:
    """A drift of ``kind`` with the class's `up` and risk unless the caller knows better."""
    of = CLASSES[kind]
    return Drift(
        kind,
        resource,
        name,
        cloud_id,
        path,
        recorded,
        observed,
        message,
        up or of.up,
        risk or of.risk,
        planned=planned,
        action=action,
        cause=cause,
        fix=fix,
    )
