"""The pod-apart rule on its own: hint decoding and the per-host decision."""

from __future__ import annotations

import uuid

import pytest

from webex_scheduler_filters.hints import join_list
from webex_scheduler_filters.pod_rules import (
    HintStatus,
    forbidden_hosts,
    host_passes,
    parse_sibling_hint,
)

G1, G2, OWN = (str(uuid.uuid4()) for _ in range(3))


def test_no_hint_means_the_request_is_not_a_pod() -> None:
    absent: tuple[object, ...] = (None, "", [], ())
    for raw in absent:
        assert parse_sibling_hint(raw).status is HintStatus.ABSENT


def test_joined_and_listed_hints_name_the_same_groups() -> None:
    joined = parse_sibling_hint(join_list([G1, G2]))
    listed = parse_sibling_hint([G1, G2.upper()])
    assert joined.status is listed.status is HintStatus.VALID
    assert joined.groups == listed.groups == {G1, G2}


def test_own_group_is_never_a_sibling() -> None:
    hint = parse_sibling_hint(join_list([G1, OWN]), own_group=OWN)
    assert hint.groups == {G1}
    assert parse_sibling_hint(OWN, own_group=OWN) == parse_sibling_hint(OWN, own_group=OWN.upper())
    assert parse_sibling_hint(OWN, own_group=OWN).groups == frozenset()


@pytest.mark.parametrize("raw", [42, {"a": G1}, [G1, 7], "not-a-uuid", f"{G1},pod-1", ",", [",", " "]])
def test_unreadable_hint_fails_closed(raw: object) -> None:
    hint = parse_sibling_hint(raw)
    assert hint.status is HintStatus.MALFORMED
    assert hint.problem


def test_hosts_of_sibling_members_are_forbidden_and_unplaced_members_ignored() -> None:
    forbidden = forbidden_hosts(["compute-1", None, "", "compute-2", "compute-1", 3])
    assert forbidden == {"compute-1", "compute-2"}
    assert not host_passes("compute-1", forbidden)
    assert host_passes("compute-3", forbidden)


def test_host_state_without_a_name_never_passes() -> None:
    assert not host_passes(None, frozenset())
    assert not host_passes("", frozenset())
