"""Read the engine event log of a `pulumi preview --event-log FILE` for what `--json` leaves out.

`pulumi preview --json` skips every policy event ("we don't handle policy events in JSON
serialization", pulumi/pulumi ``pkg/backend/display/json.go``), so a mandatory violation would show
only as an exit status. The event log keeps them. Its format (``pkg/backend/display/display.go``
``startEventLogger``: a ``json.Encoder`` writing one object per line) is one
``apitype.EngineEvent`` per line (``sdk/go/common/apitype/events.go``): ``sequence``, ``timestamp``
and exactly one payload, of which this reads

- ``policyEvent``: ``resourceUrn``, ``message``, ``policyName``, ``policyPackName``,
  ``enforcementLevel`` (``warning``, ``mandatory``, ``remediate`` or ``none``);
- ``diagnosticEvent``: ``urn``, ``message``, ``severity`` (``info``, ``info#err``, ``warning``,
  ``error``).

The flag is a debug command: the CLI registers ``--event-log`` only when
``PULUMI_DEBUG_COMMANDS=true`` (``pkg/cmd/pulumi/operations/preview.go``; the Automation API sets the
same variable, ``pulumi/automation/_stack.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webex_cloud.change.model import urn_name
from webex_cloud.input_files import MAX_DOCUMENT_BYTES, InputFileError, read_bounded
from webex_cloud.preview.errors import PreviewInputError, decode_text, parse_json
from webex_cloud.preview.markdown import code
from webex_cloud.preview.markdown import text as md_text
from webex_cloud.preview.pulumi_json import diagnostic_line
from webex_cloud.preview.risks import Level, Risk


@dataclass(frozen=True)
class PolicyViolation:
    policy: str
    pack: str
    level: str
    """``mandatory`` blocks; ``advisory``/``warning``, ``remediate`` and any other level warn."""
    urn: str
    message: str


@dataclass(frozen=True)
class EventLog:
    violations: tuple[PolicyViolation, ...]
    errors: tuple[str, ...]


def _text(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key, "")
    return value if isinstance(value, str) else ""


def parse_event_log(text: str, source: str) -> EventLog:
    violations: list[PolicyViolation] = []
    errors: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        event = parse_json(line, f"{source} line {number}")
        if not isinstance(event, dict):
            raise PreviewInputError(f"{source} line {number}", "not an engine event (a JSON object)")
        policy = event.get("policyEvent")
        if isinstance(policy, dict):
            violations.append(
                PolicyViolation(
                    policy=_text(policy, "policyName"),
                    pack=_text(policy, "policyPackName"),
                    level=_text(policy, "enforcementLevel"),
                    urn=_text(policy, "resourceUrn"),
                    message=diagnostic_line("", _text(policy, "message")),
                )
            )
        diagnostic = event.get("diagnosticEvent")
        if isinstance(diagnostic, dict) and diagnostic.get("severity") == "error":
            errors.append(diagnostic_line(_text(diagnostic, "urn"), _text(diagnostic, "message")))
    return EventLog(violations=tuple(violations), errors=tuple(errors))


def load_event_log(path: Path) -> EventLog:
    try:
        raw = read_bounded(path, MAX_DOCUMENT_BYTES)
    except InputFileError as error:
        raise PreviewInputError(str(path), f"the file {error}") from None
    except OSError as error:
        raise PreviewInputError(
            str(path),
            f"cannot read: {error.strerror or error} (run `pulumi preview` with --event-log FILE and "
            "PULUMI_DEBUG_COMMANDS=true)",
        ) from None
    return parse_event_log(decode_text(raw, str(path)), str(path))


#: Levels of a policy that is switched off: its events report nothing.
_SILENT_LEVELS = frozenset({"none", "disabled"})


def policy_risks(log: EventLog) -> list[Risk]:
    """A mandatory violation blocks like a blocking change; every other reported one warns.

    The engine writes the level as ``advisory`` or ``warning`` (both spellings occur: apitype's
    ``EnforcementLevel`` is "advisory", older event logs say "warning"), ``remediate`` (the policy
    changed the inputs: reviewers must see that too) or ``mandatory``; a level this list does not know
    warns as well, so that no violation is ever dropped."""
    risks = []
    for v in log.violations:
        if v.level.lower() in _SILENT_LEVELS:
            continue
        where = f" on {code(urn_name(v.urn))}" if v.urn else ""
        risks.append(
            Risk(
                Level.BLOCKING if v.level.lower() == "mandatory" else Level.WARNING,
                "policy",
                f"{code(v.policy)} ({v.level}){where}",
                md_text(v.message),
                (v.urn,) if v.urn else (),
            )
        )
    return risks
