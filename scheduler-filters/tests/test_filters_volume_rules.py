"""The replica-spread rule on its own: hint decoding, failure domains, the decision."""

from __future__ import annotations

import pytest

from webex_scheduler_filters.pod_rules import HintStatus
from webex_scheduler_filters.volume_rules import (
    backend_of,
    domains_by_backend,
    domains_pass,
    failure_domain,
    parse_group_hint,
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
    known = domains_by_backend(
        [
            ("cinder-a@ceph#p1", {"failure_domain": "rack-a"}),
            ("cinder-b@ceph#p1", {"failure_domain": "rack-a"}),
            ("cinder-c@ceph#p1", {"failure_domain": "rack-c"}),
        ]
    )
    used = used_domains(["cinder-b@ceph#p1", None, ""], known)
    assert used == {"rack-a"}
    assert not domains_pass(known["cinder-a@ceph"], used)
    assert domains_pass(known["cinder-c@ceph"], used)


def test_pools_reporting_different_labels_put_their_backend_in_both() -> None:
    known = domains_by_backend([("x@ceph#p1", {"failure_domain": "rack-a"}), ("x@ceph#p2", None)])
    assert known["x@ceph"] == {"rack-a", "x@ceph"}
    assert not domains_pass(frozenset({"rack-a"}), used_domains(["x@ceph#p2"], known))


def test_sibling_on_an_unknown_backend_counts_as_that_backend() -> None:
    assert used_domains(["gone@lvm#pool"], {}) == {"gone@lvm"}
    assert backend_of("gone@lvm") == "gone@lvm"
