"""The replica-spread rule on its own: hint decoding, failure domains, the decision."""

from __future__ import annotations

import pytest

from webex_scheduler_filters.pod_rules import HintStatus
from webex_scheduler_filters.volume_rules import (
    Location,
    Origin,
    backend_of,
    domains_by_backend,
    domains_of,
    domains_pass,
    failure_domain,
    origin,
    parse_domain_map,
    parse_group_hint,
    request_group,
    used_domains,
)


def test_no_hint_means_the_volume_is_not_a_replica() -> None:
    absent: tuple[object, ...] = (None, "", [], ())
    for raw in absent:
        assert parse_group_hint(raw).status is HintStatus.ABSENT


def test_group_key_read_from_a_string_or_a_one_element_list() -> None:
    assert parse_group_hint(" dc1/messaging/store ").key == "dc1/messaging/store"
    assert parse_group_hint(["dc1/messaging/store"]).key == "dc1/messaging/store"


@pytest.mark.parametrize("raw", [7, ["a", "b"], [3], "   ", {"k": "v"}])
def test_unreadable_group_hint_fails_closed(raw: object) -> None:
    assert parse_group_hint(raw).status is HintStatus.MALFORMED


def test_declared_failure_domain_wins_over_the_backend() -> None:
    assert failure_domain({"failure_domain": "rack-a"}, "cinder-a@ceph#pool1") == "rack-a"


@pytest.mark.parametrize("caps", [None, {}, {"failure_domain": ""}, {"failure_domain": 3}, ["rack-a"]])
def test_undeclared_failure_domain_is_the_backend_not_the_pool(caps: object) -> None:
    assert failure_domain(caps, "cinder-a@ceph#pool1") == "cinder-a@ceph"
    assert failure_domain(caps, "cinder-a@ceph#pool2") == failure_domain(caps, "cinder-a@ceph")


def test_sibling_domains_follow_the_backend_labels() -> None:
    live = domains_by_backend(
        [
            (Location("cinder-a@ceph#p1"), {"failure_domain": "rack-a"}),
            (Location("cinder-b@ceph#p1"), {"failure_domain": "rack-a"}),
            (Location("cinder-c@ceph#p1"), {"failure_domain": "rack-c"}),
        ]
    )
    used = used_domains([Location("cinder-b@ceph#p1")], {}, live)
    assert used == {"rack-a"}
    assert not domains_pass(live["cinder-a@ceph"], used)
    assert domains_pass(live["cinder-c@ceph"], used)


def test_pools_reporting_different_labels_put_their_backend_in_both() -> None:
    live = domains_by_backend(
        [(Location("x@ceph#p1"), {"failure_domain": "rack-a"}), (Location("x@ceph#p2"), None)]
    )
    assert live["x@ceph"] == {"rack-a", "x@ceph"}
    assert not domains_pass(frozenset({"rack-a"}), used_domains([Location("x@ceph#p2")], {}, live))


def test_sibling_on_an_unknown_backend_counts_as_that_backend() -> None:
    assert used_domains([Location("gone@lvm#pool")], {}, {}) == {"gone@lvm"}
    assert backend_of("gone@lvm") == "gone@lvm"


def test_sibling_on_a_down_backend_keeps_its_domain_from_the_rendered_map() -> None:
    # Review 1.2 weakness 2: the live label disappears exactly when a replacement is scheduled.
    static = parse_domain_map('{"cinder-a@ssd": "rack-a", "cinder-b@ssd": "rack-b"}')
    used = used_domains([Location("cinder-a@ssd#ssd")], static, {})
    assert used == {"rack-a"}
    assert not domains_pass(domains_of(Location("cinder-a@ssd#ssd"), static, {}), used)
    assert domains_pass(domains_of(Location("cinder-b@ssd#ssd"), static, {}), used)


def test_active_active_cluster_siblings_match_by_cluster_not_by_representative_host() -> None:
    # Cinder's BackendState.backend_id is cluster_name or host; the cluster's representative host
    # changes when a node goes down (review 1.2 weakness 1). The sibling records node1, the backend
    # state now shows node2: both are cluster-a@rbd.
    live = domains_by_backend([(Location("node2@rbd#p", "cluster-a@rbd#p"), {"failure_domain": "rack-a"})])
    used = used_domains([Location("node1@rbd#p", "cluster-a@rbd#p")], {}, live)
    assert used == {"rack-a"}


def test_group_key_falls_back_to_the_volumes_metadata_when_hints_are_absent() -> None:
    # Retype and migrate carry no hints (cinder 29 volume/api.py), the volume's metadata does.
    assert request_group({}, {"webex_volume_group": "dc1/m/s"}).key == "dc1/m/s"
    assert request_group(None, None, {"webex_volume_group": "dc1/m/s"}).key == "dc1/m/s"
    assert (
        request_group({"webex_volume_group": "dc1/m/hint"}, {"webex_volume_group": "x"}).key == "dc1/m/hint"
    )
    assert request_group({}, {}).status is HintStatus.ABSENT


@pytest.mark.parametrize("raw", ["[1]", '{"a@b": 3}', "not json", '{"": "x"}'])
def test_unreadable_domain_map_is_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_domain_map(raw)


def test_a_copy_names_what_it_is_made_from() -> None:
    assert origin({"source_volid": "v1", "snapshot_id": None}) == Origin("volume", "v1")
    assert origin({"snapshot_id": "s1"}) == Origin("snapshot", "s1")
    assert origin({"backup_id": "b1"}) == Origin("backup", "b1")
    # A backup restored to a new volume: only Cinder's name and description say so.
    restored = {
        "display_name": "restore_backup_b2",
        "display_description": "auto-created_from_restore_from_backup",
    }
    assert origin({"volume_properties": restored}) == Origin("backup", "b2")


def test_a_volume_named_like_a_restore_without_the_restores_description_is_no_copy() -> None:
    named = {"display_name": "restore_backup_b2", "display_description": "mine"}
    assert origin({"volume_properties": named}) is None
    bare = {"display_name": "restore_backup_", "display_description": "auto-created_from_restore_from_backup"}
    assert origin({"volume_properties": bare}) is None


def test_no_request_spec_or_no_source_means_no_origin() -> None:
    assert origin(None) is None
    assert origin({}) is None
    assert origin({"source_volid": "", "volume_properties": {"display_name": None}}) is None
