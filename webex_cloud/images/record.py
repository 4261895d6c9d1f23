"""The verification record of one stack (``build/images/<stack>.json``, format ``webex-cloud.images/v1``)
and the reports: what was verified where, by id, and what a rollback would boot."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from webex_cloud.config.image_ids import RECORD_FORMAT
from webex_cloud.images.verify import ImageVerdict, StackVerdict

FORMAT: Final = RECORD_FORMAT


def _verdict(verdict: ImageVerdict) -> dict[str, Any]:
    return {
        "name": verdict.name,
        "verified": verdict.verified,
        "id": verdict.image_id,
        "users": list(verdict.users),
        "size": verdict.size,
        "os_hash_algo": verdict.os_hash_algo or None,
        "os_hash_value": verdict.os_hash_value or None,
        "findings": list(verdict.findings),
    }


def stack_record(verdict: StackVerdict, source: Mapping[str, str]) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "stack": verdict.stack,
        "source": dict(source),
        "verified": not verdict.blocking,
        "images": [_verdict(v) for v in verdict.images],
        "rollback": {name: _verdict(v) for name, v in sorted(verdict.rollback.items())},
        "retiring": {name: _verdict(v) for name, v in sorted(verdict.retiring.items())},
    }


def to_json(
    records: Sequence[Mapping[str, Any]],
    changes: Sequence[Mapping[str, Any]] = (),
    extra: Mapping[str, Any] | None = None,
) -> str:
    document = {"format": FORMAT, "catalog_changes": list(changes), "stacks": list(records), **(extra or {})}
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def _size(size: int | None) -> str:
    return "size ?" if size is None else f"{size / 2**30:.2f} GiB"


def to_text(verdicts: Sequence[StackVerdict], before_import: bool = False) -> str:
    """``before_import``: an image only absent is reported as one the deploy's import creates, not as
    blocking (``images --before-import``)."""
    lines: list[str] = []
    for verdict in verdicts:
        to_import = verdict.to_import if before_import else []
        blocking = verdict.blocking_before_import(before_import)
        state = "every image verified" if not blocking else f"{len(blocking)} not verified"
        if to_import:
            state = f"{len(to_import)} to import, " + (state if blocking else "every other image verified")
        lines.append(f"{verdict.stack}: {state}")
        for image in verdict.images:
            users = ", ".join(image.users)
            if image.verified:
                lines.append(
                    f"  ok       {image.name} = {image.image_id} ({_size(image.size)}, "
                    f"{image.os_hash_algo}; used by {users})"
                )
            elif image in to_import:
                lines.append(f"  import   {image.name} (used by {users}): not in this Glance yet")
            else:
                lines.append(f"  BLOCKING {image.name} (used by {users}): pods booting it may not change")
                lines.extend(f"           - {finding}" for finding in image.findings)
        for name, previous in sorted(verdict.rollback.items()):
            if previous.verified:
                lines.append(f"  rollback {name} -> {previous.name} = {previous.image_id}")
            else:
                lines.append(
                    f"  warning  rollback of {name} -> {previous.name} is not possible here: "
                    + "; ".join(previous.findings)
                )
    return "\n".join(lines) + "\n"
