"""The drift classes: what each difference is, on which side, what the next `up` does to it, and whether
it blocks a deploy. One table, read by the comparison, the report, the docs (docs/drift.md) and the tests.

*What `up` would do* is modelled, not asked: no Pulumi engine runs here. ``pulumi refresh`` reads every
custom resource through the provider's Read with its recorded inputs and outputs (pulumi/pulumi
``pkg/resource/deploy/step.go`` ``RefreshStep.Apply``); the refresh diff it shows is, in its own words,
"the diff that a user would see if they immediately ran an `up` operation on a no-change program after
this refresh", inverted. So the next ``up`` diffs the program's inputs against the refreshed state, and the
bridged provider plans an update, or a replacement for a ForceNew field (webex_cloud/facts/provider.py,
terraform-provider-openstack v3.4.0). A resource whose Read returns nothing becomes ``OpDelete``
(``RefreshStep.ResultOp``): the refresh drops it from the state, and ``up`` creates it again. So an
out-of-band change to a field the program sets is *reverted* by the next ``up`` (in place, by a rebuild,
a resize or a replacement); a change to something the program does not manage (a host, a backend, a
resource it never created) is left alone, and ``up`` does *nothing* to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from webex_cloud.cloud.views import MAINTENANCE_MARK


class Side(StrEnum):
    """Which two of the three sources disagree."""

    LIVE = "live-vs-state"
    """Out of band: the cloud is not what the last checkpoint recorded."""
    PLAN = "state-vs-plan"
    """Pending change: the program asks for something the checkpoint does not hold yet."""
    RULES = "live-vs-rules"
    """The live placement check: where things really are against the placement rules (N+1 too)."""


class Up(StrEnum):
    """What the next `pulumi up` does to the difference."""

    REVERT = "revert"
    """Sets the field back to the program's value (in place, or by rebuild/resize/retype)."""
    REPLACE = "replace"
    """Deletes and re-creates the resource (a ForceNew field): a new ID."""
    RECREATE = "recreate"
    """Creates again what was deleted out of band (a new ID, new addresses)."""
    APPLY = "apply"
    """Applies the program's change (pending on the plan side)."""
    NOTHING = "nothing"
    """Leaves it as it is: Pulumi does not manage it."""


class Risk(StrEnum):
    BLOCK = "block"
    """Stops the stack's deploy until acknowledged (docs/drift.md) or absorbed by the catalog."""
    WARN = "warn"
    """Reported; the deploy goes on."""
    INFO = "info"
    """Reported as what it is (maintenance, a hold, a pending change of this merge)."""


@dataclass(frozen=True)
class DriftClass:
    key: str
    side: Side
    up: Up
    risk: Risk
    why: str
    """One sentence for the docs: why it blocks or warns."""


def _c(key: str, side: Side, up: Up, risk: Risk, why: str) -> DriftClass:
    return DriftClass(key, side, up, risk, why)


L, P, R = Side.LIVE, Side.PLAN, Side.RULES
TABLE: Final[tuple[DriftClass, ...]] = (
    _c("deleted", L, Up.RECREATE, Risk.BLOCK, "someone deleted it; `up` re-creates it with a new ID"),
    _c("stopped", L, Up.REVERT, Risk.BLOCK, "`up` starts it again (power_state active)"),
    _c("shelved", L, Up.REVERT, Risk.BLOCK, "`up` unshelves it (power_state active)"),
    _c("error", L, Up.NOTHING, Risk.WARN, "the server is in ERROR; `up` does not repair it"),
    _c("rebuilt", L, Up.REVERT, Risk.BLOCK, "`up` rebuilds it to the program's image: root disk wiped"),
    _c("resized", L, Up.REVERT, Risk.BLOCK, "`up` resizes it back: cold migration and reboot"),
    _c("retyped", L, Up.REVERT, Risk.BLOCK, "`up` retypes it back (refused if the data must move)"),
    _c("detached", L, Up.RECREATE, Risk.BLOCK, "`up` attaches the volume again"),
    _c("rule-removed", L, Up.RECREATE, Risk.BLOCK, "`up` re-creates a rule someone removed"),
    _c("rule-added", L, Up.NOTHING, Risk.WARN, "an unmanaged rule in a managed group: `up` keeps it"),
    _c("port-changed", L, Up.REVERT, Risk.BLOCK, "`up` sets the port's addresses or groups back"),
    _c("metadata", L, Up.REVERT, Risk.WARN, "`up` writes the program's metadata back"),
    _c("renamed", L, Up.REVERT, Risk.WARN, "`up` renames it back (replaces where the name is ForceNew)"),
    _c("changed", L, Up.REVERT, Risk.WARN, "another field differs; `up` sets it back"),
    _c("unmanaged", L, Up.NOTHING, Risk.WARN, "a resource nobody declared inside a managed network or group"),
    _c("host-disabled", L, Up.NOTHING, Risk.WARN, "a compute host of the stack is disabled"),
    _c("host-down", L, Up.NOTHING, Risk.WARN, "a compute host of the stack is down"),
    _c("maintenance", L, Up.NOTHING, Risk.INFO, "a host disabled by a recorded maintenance (a drain)"),
    _c(
        "filter-release",
        L,
        Up.NOTHING,
        Risk.BLOCK,
        "a controller runs another filter release than was deployed",
    ),
    _c("fragment-edited", L, Up.NOTHING, Risk.BLOCK, "a scheduler's config fragment is not the one deployed"),
    _c(
        "filter-not-loaded",
        L,
        Up.NOTHING,
        Risk.BLOCK,
        "a scheduler runs without the filters (stopped, or not restarted)",
    ),
    _c("image-deleted", L, Up.NOTHING, Risk.WARN, "Glance no longer has the image a server runs"),
    _c("image-deactivated", L, Up.NOTHING, Risk.WARN, "the image a server runs is deactivated in Glance"),
    _c(
        "image-replaced",
        L,
        Up.NOTHING,
        Risk.WARN,
        "another image was uploaded under the name a server booted",
    ),
    _c("pending", P, Up.APPLY, Risk.INFO, "the program's change that this `up` applies"),
    _c("n-plus-one", R, Up.NOTHING, Risk.BLOCK, "without the unavailable hosts, N+1 no longer holds"),
    _c("placement", R, Up.NOTHING, Risk.BLOCK, "a pod split, siblings together or replicas in one domain"),
)
CLASSES: Final = {c.key: c for c in TABLE}

REPLACE_RISK: Final = Risk.BLOCK
"""A revert that replaces the resource (a ForceNew field) blocks whatever the class says."""
MAINTENANCE_PREFIX: Final = MAINTENANCE_MARK
"""A compute service disabled with a reason starting so is recorded maintenance (a drain), not drift."""
