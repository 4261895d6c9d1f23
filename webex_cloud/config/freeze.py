"""The fleet's freeze switch (``deployments/freeze.yaml``): while it is on, no stack deploys.

The one owner of that file's format. The deploy workflow's first job lists the stacks with
``python -m webex_cloud stacks --deploy``, which refuses (exit 1, before any stack's job exists) while
the switch is on, naming who froze the fleet and why. Turning it on or off is a reviewed commit to
main like any other; an absent file, or ``frozen: false``, means deploys run.
"""

from __future__ import annotations

from pathlib import Path

from webex_cloud.config.models import StrictModel
from webex_cloud.config.validation import validate
from webex_cloud.config.yaml_source import parse_yaml, read_text

FREEZE_FILE = "deployments/freeze.yaml"
"""Relative to the checkout."""


class Freeze(StrictModel):
    frozen: bool
    """True stops every deploy of the fleet."""
    reason: str = ""
    """Why (an incident, a holiday change freeze): printed with the refusal."""
    by: str = ""
    """Who turned it on (a person or a team), so the refusal says whom to ask."""


def read_freeze(project_dir: Path) -> Freeze | None:
    """The switch when it is on, else None. Raises CatalogError naming the file and field."""
    path = project_dir / FREEZE_FILE
    if not path.exists():
        return None
    raw = parse_yaml(read_text(path, FREEZE_FILE), FREEZE_FILE)
    freeze = validate(Freeze, raw, FREEZE_FILE)
    return freeze if freeze.frozen else None


def refusal(freeze: Freeze) -> str:
    """The message every refused deploy prints."""
    why = freeze.reason or "no reason given"
    who = f" by {freeze.by}" if freeze.by else ""
    return (
        f"the fleet is frozen{who} ({FREEZE_FILE}: {why}); no stack deploys while it is on. "
        f"To deploy, set frozen: false (or delete the file) in a reviewed commit to main"
    )
