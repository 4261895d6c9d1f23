"""Which releases roll back by themselves: only changes that a second `pulumi up` undoes without loss.

A failed release is judged from the preview the deploy job ran just before its `up` (the same steps
`up` then took, as far as it got). Reversible, so rolled back with no person involved:

- an instance whose only changed inputs are its image (``servers.Rebuild`` on the same server and
  port: facts/provider.py :class:`Disruption.REBUILD`; the rollback rebuilds it onto the old image)
  or its metadata and tags (edited in place, or a replacement forced by a ``metadata.*`` key such as
  the pod generation: the instance is stateless, its port and volumes are kept);
- a health gate (pulumi-command ``local.Command``): it holds no state, it re-runs its probe;
- the stack's own outputs.

Anything else stops and pages a person: a volume or attachment (data), a network, subnet, port,
router or security group (reachability of every pod), the controllers, a resize (a cold migration to
another host), any create or delete of such a resource. Deletes are never reversible here: with
``--continue-on-error`` the engine still runs every delete that does not depend on the failed step
(pulumi/pulumi ``pkg/resource/deploy/deployment_executor.go``, the delete antichains filtered on
``GetErroredSteps``, snapshot at CHANGELOG 3.259.0, CLI pinned 3.272.0), so a delete in the preview
may already have happened when the gate failed.
"""

from __future__ import annotations

from dataclasses import dataclass

from webex_cloud.change.model import Action, Change, ChangeSet
from webex_cloud.facts.provider import Disruption, disruption
from webex_cloud.plan import format as tokens

_IN_PLACE_KEYS = frozenset({"metadata", "tags"})
"""Instance inputs edited in place whose old value a second `up` simply writes back."""


@dataclass(frozen=True)
class Verdict:
    """What the failed release changed, split into what rolls back by itself and what does not."""

    reversible: tuple[str, ...]
    """One line per change the rollback undoes."""
    blockers: tuple[str, ...]
    """One line per change that needs a person, with why."""

    @property
    def automatic(self) -> bool:
        return not self.blockers


def _top(path: str) -> str:
    return path.split(".", 1)[0].split("[", 1)[0]


def _instance(change: Change) -> str | None:
    """Why an instance change is not reversible, or None when it is."""
    if change.action not in (Action.UPDATE, Action.REPLACE):
        return f"{change.action.value} of an instance (pod count or pod design): a person decides"
    if change.action is Action.REPLACE:
        reasons = change.replace_reasons or tuple(p.path for p in change.properties if p.forces_replace)
        others = sorted({r for r in reasons if _top(r) not in _IN_PLACE_KEYS})
        if others or not reasons:
            return f"replaced for {', '.join(others) or 'an unknown reason'}: not only its image or metadata"
    for prop in change.properties:
        kind = disruption(tokens.INSTANCE, prop.path)
        if kind is Disruption.REBUILD or (kind is None and _top(prop.path) in _IN_PLACE_KEYS):
            continue
        what = f"a {kind.value}" if kind else "an in-place edit"
        return (
            f"its input {prop.path} changed ({what}): only image, metadata and tags roll back by themselves"
        )
    return None


def _blocker(change: Change) -> str | None:
    if change.type == tokens.LOCAL_COMMAND or change.type == tokens.STACK:
        return None
    if change.type == tokens.INSTANCE:
        return _instance(change)
    what = "delete (it may already be gone)" if change.action is Action.DELETE else change.action.value
    return f"{what} of a {change.type}: not a reversible kind (data, network or controllers)"


def classify(changes: ChangeSet) -> Verdict:
    """Split the failed release's changes; any blocker makes the rollback a person's decision."""
    reversible: list[str] = []
    blockers: list[str] = []
    for change in changes.changes:
        why = _blocker(change)
        if why is None:
            reversible.append(f"{change.action.value} {change.name} ({change.type})")
        else:
            blockers.append(f"{change.name}: {why}")
    return Verdict(tuple(reversible), tuple(blockers))


def gates_to_rerun(changes: ChangeSet) -> tuple[str, ...]:
    """The gates the rollback replaces on purpose, so that each changed wave is probed on its way back.

    A gate whose replacement failed keeps its old state (the replacement is create-before-delete and
    its create failed; step_executor.go records no new state for a failed step): on the way back its
    triggers equal the old ones again, the engine sees no change, and the wave would return without a
    probe. ``pulumi up --replace <urn>`` forces it (pulumi/pulumi ``pkg/cmd/pulumi/operations/up.go``,
    the repeatable ``--replace`` flag; ``pkg/resource/deploy/step_generator.go``, ``ReplaceTargets``;
    same snapshot as above).
    """
    return tuple(
        sorted(
            change.urn
            for change in changes.changes
            if change.type == tokens.LOCAL_COMMAND and change.action in (Action.REPLACE, Action.UPDATE)
        )
    )
