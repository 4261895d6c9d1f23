"""The pure pod rules: members on their anchor's host, no host shared with another pod of the service."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from webex_scheduler_filters.hints import (
    ANCHOR_ROLE,
    INSTANCE_POD_METADATA_KEY,
    INSTANCE_POD_ROLE_METADATA_KEY,
    INSTANCE_SERVICE_METADATA_KEY,
    MEMBER_ROLE,
)
from webex_scheduler_filters.pod_rules import (
    HintStatus,
    PlacedInstance,
    PodDecision,
    Room,
    decide,
    has_room,
    host_passes,
    parse_pod_hint,
    parse_room,
    placed_instance,
    unscheduled_anchors,
)

POD0, POD1 = "dc1/chat/chat-pod-0", "dc1/chat/chat-pod-1"


def _placed(uuid: str, host: str | None, pod: str, anchor: bool) -> PlacedInstance:
    return PlacedInstance(uuid, host, pod, anchor)


def test_hint_reads_one_pod_key_and_fails_closed_otherwise() -> None:
    assert parse_pod_hint(["dc1/chat/chat-pod-0"]).key == POD0
    assert parse_pod_hint(None).status is HintStatus.ABSENT
    assert parse_pod_hint("").status is HintStatus.ABSENT
    for bad in ("chat-pod-0", "dc1//p", 7, ["a/b/c", "d/e/f"], "a/b/c/d"):
        assert parse_pod_hint(bad).status is HintStatus.MALFORMED, bad
    assert parse_pod_hint(POD0).service == "dc1/chat"


def test_anchor_avoids_every_other_pods_host_but_not_its_own_members() -> None:
    placed = [
        _placed("a1", "h1", POD1, True),
        _placed("m1", "h2", POD1, False),  # a member of pod 1 mid-move: its host is still pod 1's
        _placed("m0", "h3", POD0, False),  # our own member, left behind by a move of the anchor
    ]
    decision = decide(parse_pod_hint(POD0), "a0", True, placed)
    assert [h for h in ("h1", "h2", "h3", "h4") if host_passes(h, decision)] == ["h3", "h4"]


def test_member_goes_only_to_its_anchors_host() -> None:
    placed = [_placed("a0", "h1", POD0, True), _placed("a1", "h2", POD1, True)]
    decision = decide(parse_pod_hint(POD0), "m0", False, placed)
    assert [h for h in ("h1", "h2", "h3") if host_passes(h, decision)] == ["h1"]


def test_member_without_a_placed_anchor_gets_no_host() -> None:
    # The anchor is shelved, or not yet evacuated: the member must not start the pod elsewhere.
    for placed in ([], [_placed("a0", None, POD0, True)]):
        decision = decide(parse_pod_hint(POD0), "m0", False, placed)
        assert decision.required == frozenset() and decision.problem
        assert not host_passes("h1", decision)


def test_member_whose_anchor_shares_a_host_with_another_pod_gets_none() -> None:
    placed = [_placed("a0", "h1", POD0, True), _placed("x", "h1", POD1, False)]
    assert not host_passes("h1", decide(parse_pod_hint(POD0), "m0", False, placed))


def test_the_request_itself_is_not_a_sibling() -> None:
    # An anchor being evacuated still shows its dead host; it must not count against itself.
    decision = decide(parse_pod_hint(POD0), "a0", True, [_placed("a0", "h1", POD0, True)])
    assert host_passes("h1", decision)


def test_metadata_must_name_the_service_as_a_pair() -> None:
    # Nova's metadata filter matches "some key is webex_service and some value is dc1/chat".
    other = {INSTANCE_SERVICE_METADATA_KEY: "dc1/mail", "owner": "dc1/chat"}
    assert placed_instance("u", "h", other, "dc1/chat") is None
    mine = {
        INSTANCE_SERVICE_METADATA_KEY: "dc1/chat",
        INSTANCE_POD_METADATA_KEY: POD0,
        INSTANCE_POD_ROLE_METADATA_KEY: ANCHOR_ROLE,
    }
    assert placed_instance("u", "h", mine, "dc1/chat") == PlacedInstance("u", "h", POD0, True)
    unnamed = placed_instance("u", "h", {INSTANCE_SERVICE_METADATA_KEY: "dc1/chat"}, "dc1/chat")
    assert unnamed is not None and unnamed.pod is None  # counts as another pod: the stricter reading
    member = {**mine, INSTANCE_POD_ROLE_METADATA_KEY: MEMBER_ROLE}
    assert placed_instance("u", None, member, "dc1/chat") == PlacedInstance("u", None, POD0, False)


instances = st.lists(
    st.builds(
        PlacedInstance,
        st.sampled_from(["u1", "u2", "u3", "u4"]),
        st.one_of(st.none(), st.sampled_from(["h1", "h2", "h3"])),
        st.one_of(st.none(), st.sampled_from([POD0, POD1])),
        st.booleans(),
    ),
    max_size=6,
)


@settings(derandomize=True, max_examples=300)
@given(instances, st.booleans(), st.sampled_from(["h1", "h2", "h3", "h4"]))
def test_a_passing_host_never_holds_another_pod_and_a_member_only_joins_its_anchor(
    placed: list[PlacedInstance], anchor: bool, host: str
) -> None:
    decision = decide(parse_pod_hint(POD0), "me", anchor, placed)
    if host_passes(host, decision):
        assert not any(i.host == host and i.pod != POD0 for i in placed)
        if not anchor:
            assert any(i.host == host and i.pod == POD0 and i.anchor for i in placed)


def test_room_reads_three_numbers_and_fails_closed_otherwise() -> None:
    assert parse_room("12,24576,80") == (Room(12, 24576, 80), "")
    assert parse_room(None) == (None, "")
    for bad in ("", "12,24576", "a,b,c", "-1,0,0", "inf,0,0", "nan,0,0", 12, ["1,2,3"]):
        room, problem = parse_room(bad)
        assert room is None and "webex_pod_room" in problem, bad


def test_an_anchor_needs_its_own_rows_room_and_a_member_none() -> None:
    own = placed_instance("a", None, {**_meta(POD0, ANCHOR_ROLE), "webex_pod_room": "4,8192,0"}, "dc1/chat")
    assert own is not None
    decision = decide(parse_pod_hint(POD0), "a", True, [own])
    assert decision.room == Room(4, 8192, 0) and decision.required is None
    member = decide(parse_pod_hint(POD0), "m", False, [own, _placed("x", "c1", POD0, True)])
    assert member.room is None
    broken = placed_instance("a", None, {**_meta(POD0, ANCHOR_ROLE), "webex_pod_room": "4"}, "dc1/chat")
    assert broken is not None
    refused = decide(parse_pod_hint(POD0), "a", True, [broken])
    assert refused.required == frozenset() and "webex_pod_room" in refused.problem


def test_has_room_counts_disk_only_where_the_host_reports_it() -> None:
    assert has_room(Room(8, 16384, 0), Room(8, 16384, 40), count_disk=False)
    assert not has_room(Room(8, 16384, 0), Room(8, 16384, 40))
    assert not has_room(Room(7.5, 16384, 100), Room(8, 16384, 40))
    assert not has_room(Room(8, 16383, 100), Room(8, 16384, 40))


def _meta(pod: str, role: str) -> dict[str, str]:
    return {
        INSTANCE_SERVICE_METADATA_KEY: "dc1/chat",
        INSTANCE_POD_METADATA_KEY: pod,
        INSTANCE_POD_ROLE_METADATA_KEY: role,
    }


HOSTS = ("dead", "h1", "h2", "h3")


def _passing(decision: PodDecision) -> list[str]:
    return [h for h in HOSTS if host_passes(h, decision)]


def _evacuating(uuid: str, pod: str, anchor: bool, destination: str | None) -> PlacedInstance:
    return PlacedInstance(
        uuid, "dead", pod, anchor, rebuilding=True, evacuating=True, destination=destination
    )


def test_a_member_follows_its_anchors_evacuation_to_its_destination_not_the_dead_source() -> None:
    # Issue 31: the anchor's host is the dead source until its rebuild on the destination ends.
    decision = decide(parse_pod_hint(POD0), "m0", False, [_evacuating("a0", POD0, True, "h2")])
    assert _passing(decision) == ["h2"]


def test_a_member_whose_anchor_is_not_scheduled_yet_gets_no_host_and_says_why() -> None:
    decision = decide(parse_pod_hint(POD0), "m0", False, [_evacuating("a0", POD0, True, None)])
    assert _passing(decision) == []
    assert "being evacuated" in decision.problem and "evacuate this member again" in decision.problem


def test_another_pods_evacuation_keeps_its_source_and_destination_free() -> None:
    placed = [
        _evacuating("a1", POD1, True, "h1"),
        _evacuating("m1", POD1, False, None),  # pod 1's member, not scheduled yet: only its source known
        _placed("a0", "h2", POD0, True),
    ]
    assert _passing(decide(parse_pod_hint(POD0), "m0", False, placed)) == ["h2"]
    assert _passing(decide(parse_pod_hint("dc1/chat/chat-pod-2"), "a2", True, placed)) == ["h3"]


def test_a_rebuild_in_place_is_not_an_evacuation() -> None:
    # The task state alone (rebuilding) does not move the anchor: only an evacuation record does.
    rebuilt = PlacedInstance("a0", "h1", POD0, True, rebuilding=True)
    assert _passing(decide(parse_pod_hint(POD0), "m0", False, [rebuilt])) == ["h1"]


def test_unscheduled_anchors_are_the_pods_anchors_without_a_destination() -> None:
    placed = [
        _evacuating("a0", POD0, True, None),
        _evacuating("m0", POD0, False, None),
        _evacuating("a1", POD1, True, None),
        _evacuating("a2", "dc1/chat/chat-pod-2", True, "h1"),
    ]
    assert unscheduled_anchors(POD0, placed) == ["a0"]
    assert unscheduled_anchors("dc1/chat/chat-pod-2", placed) == []
