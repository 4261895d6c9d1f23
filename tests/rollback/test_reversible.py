"""Which failed releases roll back by themselves: image, metadata and gate changes only."""

from __future__ import annotations

from webex_cloud.change.model import Action, Certainty, Change, ChangeSet, PropertyChange, Topology
from webex_cloud.plan import format as tokens
from webex_cloud.rollback.reversible import classify, gates_to_rerun

STACK = "urn:pulumi:dc1::webex-cloud::"


def change(type_: str, name: str, action: Action, *paths: str, forced: tuple[str, ...] = ()) -> Change:
    properties = tuple(PropertyChange(path=p, kind="update", forces_replace=p in forced) for p in paths)
    return Change(
        urn=f"{STACK}{type_}::{name}",
        type=type_,
        name=name,
        action=action,
        certainty=Certainty.PROVIDER,
        properties=properties,
        replace_reasons=forced,
    )


def changes(*found: Change) -> ChangeSet:
    return ChangeSet("dc1", "pulumi-preview", "test", found, 0, 0, Topology())


IMAGE = change(tokens.INSTANCE, "meetings-media-pod-0-mixer-0", Action.UPDATE, "imageName")
GATE = change(tokens.LOCAL_COMMAND, "meetings-media-gate-1", Action.REPLACE, "triggers", forced=("triggers",))


def test_an_image_release_with_its_gates_rolls_back_by_itself() -> None:
    metadata = change(
        tokens.INSTANCE, "meetings-media-pod-0-relay-0", Action.UPDATE, "imageName", "metadata.x"
    )
    verdict = classify(changes(IMAGE, metadata, GATE, change(tokens.STACK, "dc1", Action.UPDATE, "outputs")))
    assert verdict.automatic
    assert len(verdict.reversible) == 4 and verdict.blockers == ()


def test_a_replacement_forced_by_a_metadata_key_rolls_back_but_one_forced_by_the_network_does_not() -> None:
    generation = change(
        tokens.INSTANCE,
        "m-pod-0-mixer-0",
        Action.REPLACE,
        "metadata.webex_pod_generation",
        forced=("metadata.webex_pod_generation",),
    )
    assert classify(changes(generation)).automatic
    moved = change(tokens.INSTANCE, "m-pod-0-mixer-0", Action.REPLACE, "networks", forced=("networks",))
    verdict = classify(changes(IMAGE, moved))
    assert not verdict.automatic
    assert verdict.blockers == ("m-pod-0-mixer-0: replaced for networks: not only its image or metadata",)


def test_data_network_resizes_creates_and_deletes_stop_and_say_why() -> None:
    found = changes(
        IMAGE,
        change(tokens.VOLUME, "rec-data-0", Action.CREATE),
        change(tokens.SEC_GROUP_RULE, "m-sg-in-443", Action.DELETE),
        change(tokens.SUBNET, "m-subnet", Action.UPDATE, "allocationPools"),
        change(tokens.INSTANCE, "m-pod-1-mixer-0", Action.UPDATE, "flavorName"),
        change(tokens.INSTANCE, "m-pod-4-mixer-0", Action.CREATE),
    )
    verdict = classify(found)
    assert not verdict.automatic
    assert verdict.reversible == (f"update {IMAGE.name} ({tokens.INSTANCE})",)
    assert verdict.blockers == (
        f"rec-data-0: create of a {tokens.VOLUME}: not a reversible kind (data, network or controllers)",
        f"m-sg-in-443: delete (it may already be gone) of a {tokens.SEC_GROUP_RULE}: not a reversible kind "
        "(data, network or controllers)",
        f"m-subnet: update of a {tokens.SUBNET}: not a reversible kind (data, network or controllers)",
        "m-pod-1-mixer-0: its input flavorName changed (a resize): only image, metadata and tags roll back "
        "by themselves",
        "m-pod-4-mixer-0: create of an instance (pod count or pod design): a person decides",
    )


def test_the_gates_the_failed_release_touched_are_replaced_on_the_way_back() -> None:
    new_wave = change(tokens.LOCAL_COMMAND, "meetings-media-gate-5", Action.CREATE)
    assert gates_to_rerun(changes(IMAGE, GATE, new_wave)) == (GATE.urn,)
