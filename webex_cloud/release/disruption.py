"""How many serving pods of a service one update can disrupt at the same moment, from its dependency graph.

The Pulumi engine starts a resource's step only once every resource it depends on has finished its own
step (the SDK registers a resource after its dependencies' registrations returned; pulumi/pulumi
``pkg/resource/deploy/step_executor.go`` runs each registration's chain as soon as it arrives), and runs
steps with no path between them in parallel. A pod is disrupted from its first disrupting step (replace,
delete, rebuild, resize: :mod:`webex_cloud.facts.provider`) until its wave's health gate has passed; a
pod whose resources are all being created was not serving and does not count (a removed pod does: it
stops serving, with no gate after it). Pod P is over before pod Q starts when every disrupting step
of Q waits (through any path) for P's gate and P's gate waits for every disrupting step of P. Whatever
the durations, the pods disrupted at one moment are then an antichain of that order, and every antichain
can happen, so the answer is the largest antichain: by Dilworth's theorem, the pods minus a maximum
matching of the order's comparability graph.

Replacing or deleting the service's network, subnet, router interface or security group disrupts every
pod of the service at once (all their traffic), which no gate can order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from webex_cloud.change.model import Action, Change, ChangeSet
from webex_cloud.facts.provider import DESCRIBED, Disruption, disruption
from webex_cloud.plan import format as tokens
from webex_cloud.release.probe import GateSpec
from webex_cloud.release.rollout import GATE_TYPE

SHARED = frozenset({tokens.NETWORK, tokens.SUBNET, tokens.ROUTER_INTERFACE, tokens.SEC_GROUP})
"""Types whose replacement or deletion cuts every pod of the service off at once."""
HOLDS_NOTHING = frozenset({tokens.SERVER_GROUP})
"""Types whose replacement or deletion stops nothing that runs. Nova deletes a server group's policy and
member rows and leaves its servers running (nova 34 ``InstanceGroup._destroy_in_db``, reached from
``DELETE /os-server-groups/{id}`` in ``nova/api/openstack/compute/server_groups.py``, which does not
refuse a group with members); an instance booted into a replaced group is replaced through its own
``scheduler_hints`` (ForceNew) and counted there. The engine deletes a group the program no longer
registers only after every other step (pulumi/pulumi ``deployment_executor.go`` ``performPostSteps``)."""
DEFAULT_MAX_UNAVAILABLE = 1
"""What the catalog's ``rollout.max_unavailable`` defaults to; used when the update holds no gate."""


def disrupts(change: Change) -> Disruption | None:
    """What this change does to what runs on the resource; None when it keeps running."""
    if change.action in (Action.REPLACE, Action.DELETE):
        return None if change.type in HOLDS_NOTHING else Disruption.REPLACE
    if change.action is not Action.UPDATE:
        return None
    found = [d for p in change.properties if (d := disruption(change.type, p.path)) is not None]
    return found[0] if found else None


def gate_spec(change: Change) -> GateSpec | None:
    """The spec of a health gate that runs in this update (created, replaced or updated)."""
    if change.type != GATE_TYPE or change.action not in (Action.CREATE, Action.REPLACE, Action.UPDATE):
        return None
    create = (change.new_inputs or {}).get("create")
    try:
        return GateSpec.from_json(create) if isinstance(create, str) else None
    except (ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True)
class ServiceRelease:
    """What one update does to the pods of one service."""

    service: str
    serving: tuple[str, ...]
    """Pods serving before the update (not being created)."""
    disrupted: tuple[str, ...]
    """Serving pods the update disrupts."""
    what: tuple[str, ...]
    """What happens to them, in a few words each (``rebuild (root disk wiped)``)."""
    waves: tuple[tuple[str, ...], ...]
    """The disrupted or new pods per gated wave, in release order (empty when nothing is gated)."""
    ungated: tuple[str, ...]
    """Disrupted pods no gate of this update waits for."""
    at_once: int
    """The largest number of serving pods disrupted at the same moment."""
    judgement: str
    """How each wave is judged once it serves (from its gates' specs), in a few words."""
    unjudged: str
    """Why the waves are judged weakly or not at all, with the fix; empty when they are judged by metrics."""
    max_unavailable: int
    shared: tuple[str, ...]
    """Names of the service-wide resources replaced or deleted (network, subnet, security group)."""

    @property
    def blocking(self) -> bool:
        """More pods down at once than the catalog allows, or none left serving."""
        return self.at_once > self.max_unavailable or (self.at_once > 0 and self.at_once >= len(self.serving))


def _ancestors(graph: Mapping[str, Iterable[str]]) -> dict[str, frozenset[str]]:
    """URN -> every URN it transitively waits for."""
    done: dict[str, frozenset[str]] = {}
    for root in graph:
        if root in done:
            continue
        stack: list[tuple[str, bool]] = [(root, False)]
        while stack:
            urn, expanded = stack.pop()
            if urn in done:
                continue
            deps = [d for d in graph.get(urn, ()) if d != urn]
            if expanded:
                found: set[str] = set()
                for dep in deps:
                    found.add(dep)
                    found |= done.get(dep, frozenset())
                done[urn] = frozenset(found)
                continue
            stack.append((urn, True))
            stack.extend((d, False) for d in deps if d not in done)
    return done


def _largest_antichain(items: list[str], before: Mapping[str, set[str]]) -> int:
    """Dilworth: items minus a maximum matching of the (transitively closed) strict order ``before``."""
    closed = {i: set(before.get(i, set())) for i in items}
    changed = True
    while changed:
        changed = False
        for item in items:
            extra = set().union(*(closed[j] for j in closed[item])) - closed[item]
            if extra:
                closed[item] |= extra
                changed = True
    match: dict[str, str] = {}

    def augment(left: str, seen: set[str]) -> bool:
        for right in sorted(closed[left]):
            if right in seen:
                continue
            seen.add(right)
            if right not in match or augment(match[right], seen):
                match[right] = left
                return True
        return False

    matched = sum(augment(item, set()) for item in items)
    return len(items) - matched


def _cascaded(changes: ChangeSet, waits: Mapping[str, frozenset[str]]) -> dict[str, frozenset[str]]:
    """``waits`` with every replacement a delete-before-replace drags along moved to that resource's step.

    When the engine replaces a resource delete-first, it deletes in that same step every resource that
    depends on it, directly or not, and would be replaced by the change (pulumi/pulumi
    ``pkg/resource/deploy/step_generator.go``: ``calculateDependentReplacements``, then a
    ``NewDeleteReplacementStep`` per dependent ahead of the resource's own delete). Those deletes wait for
    what the condemned resource waits for, not for their own dependencies (a previous wave's gate): they
    happen all at once, before any gate.
    """
    moved = dict(waits)
    replaced = [c for c in changes.changes if c.action is Action.REPLACE]
    for root in (c for c in replaced if c.delete_before_replace):
        # The engine's replace set grows through property dependencies only (an input whose value
        # comes from a condemned resource turns unknown); a plain depends_on condemns nothing.
        condemned = {root.urn}
        grown = True
        while grown:
            grown = False
            for change in replaced:
                if change.urn not in condemned and any(
                    urn in condemned for urns in change.property_dependencies.values() for urn in urns
                ):
                    condemned.add(change.urn)
                    grown = True
        for urn in condemned - {root.urn}:
            moved[urn] = moved.get(urn, frozenset()) & waits.get(root.urn, frozenset())
    return moved


def releases(changes: ChangeSet, graph: Mapping[str, Iterable[str]] | None = None) -> list[ServiceRelease]:
    """Per service with disrupted or new pods: its waves and how many pods go down at once.

    ``graph`` maps every URN of the update, changed or not, to its dependencies (paths through unchanged
    resources order steps too); without it the changes' own dependencies are used.
    """
    deps: dict[str, tuple[str, ...]] = {c.urn: c.dependencies for c in changes.changes}
    deps.update({urn: tuple(d) for urn, d in (graph or {}).items()})
    # A gate runs when it is created, after what it waits for, even when a delete-before-replace
    # deleted its old self early; a disrupting step starts as early as the cascade moved it.
    waits = _ancestors(deps)
    starts = _cascaded(changes, waits)
    by_urn = {c.urn: c for c in changes.changes}
    gates = [(c, spec) for c in changes.changes if (spec := gate_spec(c)) is not None]
    topology = changes.topology
    found: list[ServiceRelease] = []
    for service, pods in sorted(topology.pods.items()):
        shared = [
            c
            for c in changes.changes
            if topology.service_of(c.urn) == service
            and topology.pod_of(c.urn) is None
            and c.type in SHARED
            and c.action in (Action.REPLACE, Action.DELETE)
        ]
        serving: list[str] = []
        new: list[str] = []
        steps: dict[str, list[Change]] = {}
        what: set[str] = set()
        for pod, urns in sorted(pods.items()):
            changed = [by_urn[u] for u in urns if u in by_urn]
            if (
                urns
                and changed
                and len(changed) == len(urns)
                and all(c.action is Action.CREATE for c in changed)
            ):
                new.append(pod)
                continue
            serving.append(pod)
            hits = [c for c in changed if disrupts(c) is not None] + shared
            if hits:
                steps[pod] = hits
                what |= {DESCRIBED[d] for c in hits if (d := disrupts(c)) is not None}
        own_gates = [(c, s) for c, s in gates if s.service == service]
        if not steps and not new:
            continue
        gate_of: dict[str, str] = {}
        for change, spec in own_gates:
            for pod in spec.pods:
                gate_of[pod] = change.urn
        covered = {
            pod
            for pod, hits in steps.items()
            if pod in gate_of and all(c.urn in waits.get(gate_of[pod], frozenset()) for c in hits)
        }
        before: dict[str, set[str]] = {pod: set() for pod in steps}
        for later, hits in steps.items():
            for earlier in covered:
                if earlier != later and all(gate_of[earlier] in starts.get(c.urn, frozenset()) for c in hits):
                    before[later].add(earlier)
        max_unavailable = max((s.max_unavailable for _, s in own_gates), default=DEFAULT_MAX_UNAVAILABLE)
        ordered = sorted(own_gates, key=lambda item: item[1].wave)
        shown = set(steps) | set(new)
        found.append(
            ServiceRelease(
                service=service,
                serving=tuple(serving),
                disrupted=tuple(sorted(steps)),
                what=tuple(sorted(what)),
                waves=tuple(
                    tuple(p for p in spec.pods if p in shown)
                    for _, spec in ordered
                    if any(p in shown for p in spec.pods)
                ),
                ungated=tuple(sorted(set(steps) - covered)),
                at_once=_largest_antichain(sorted(steps), before),
                **_judgement([spec for _, spec in ordered]),
                max_unavailable=max_unavailable,
                shared=tuple(sorted(c.name for c in shared)),
            )
        )
    return found


def released(changes: ChangeSet) -> list[ServiceRelease]:
    """The releases of this change: services whose serving pods it disrupts (new pods alone take nothing
    from users). The preview's ``release-judgement`` and the pack's ``releasedServices`` both mean these."""
    return [release for release in releases(changes, changes.graph) if release.disrupted]


def _judgement(specs: list[GateSpec]) -> dict[str, str]:
    """How the gates judge their waves, and what is weak about it (the first gate speaks for all: the
    waves of one service share its ``rollout``)."""
    if not specs:
        return {"judgement": "no gate", "unjudged": ""}
    analysis = specs[0].analysis
    if analysis is None:
        return {
            "judgement": "waves gated on serving only",
            "unjudged": "no Prometheus judges its waves by their metrics: declare the datacenter's "
            "monitoring (docs/monitoring.md)",
        }
    judgement = f"{analysis.summary()}; rolls back automatically (docs/releasing.md)"
    tcp_only = all(t.check.protocol == "tcp" for spec in specs for t in spec.targets)
    if not analysis.declared and tcp_only:
        return {
            "judgement": judgement,
            "unjudged": "judged only by TCP connects, which pass while the service fails its calls: "
            "declare rollout.analysis metrics or an HTTP health check (docs/releasing.md)",
        }
    return {"judgement": judgement, "unjudged": ""}


def describe(release: ServiceRelease) -> str:
    """``meetings-media: 4 pods, 1 at a time, health-gated: pod-0 → pod-1 → …; rebuild (root disk wiped)``."""
    prefix = f"{release.service}-"
    order = " → ".join(", ".join(p.removeprefix(prefix) for p in wave) for wave in release.waves)
    gated = "health-gated" if not release.ungated and release.waves else "NOT health-gated"
    what = "; ".join(release.what) or "new pods only"
    text = (
        f"{release.service}: {len(release.serving)} pods, {release.max_unavailable} at a time, {gated}"
        f"{': ' + order if order else ''}; {what}; at most {release.at_once} serving pod"
        f"{'s' if release.at_once != 1 else ''} down at once"
    )
    if release.ungated:
        text += f" (no gate waits for {', '.join(p.removeprefix(prefix) for p in release.ungated)})"
    if release.shared:
        text += f" — {', '.join(release.shared)} replaced: every pod is cut off at once"
    if release.waves:
        text += f"; {release.judgement}"
    return text
