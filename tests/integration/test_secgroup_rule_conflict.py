"""Why security-group rules are replaced delete-first: the loopback's real Neutron refuses a rule that
differs from an existing one only in its description (409), which is what a create-before-delete
replacement of a description change sends. Pins webex_cloud.preview.risks.rule_conflict and the
``delete_before_replace`` of webex_cloud.components.network."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from openstack import exceptions

from tests.integration.conftest import Cleanup

PREFIX = "issue10-rule-conflict"


def _rule(conn: Any, group: Any, description: str) -> Any:
    return conn.network.create_security_group_rule(
        security_group_id=group.id,
        direction="ingress",
        ethertype="IPv4",
        protocol="tcp",
        port_range_min=5061,
        port_range_max=5061,
        remote_ip_prefix="0.0.0.0/0",
        description=description,
    )


def test_a_description_only_replacement_conflicts_unless_the_old_rule_goes_first(
    openstack_conn: Any, cleanup: Cleanup
) -> None:
    conn = openstack_conn
    group = conn.network.create_security_group(name=f"{PREFIX}-{uuid.uuid4().hex[:8]}")
    cleanup.actions.append(lambda: conn.network.delete_security_group(group, ignore_missing=True))
    old = _rule(conn, group, "SIP over TLS")
    # Create-before-delete: the replacement arrives while the old rule exists.
    with pytest.raises(exceptions.ConflictException) as refused:
        _rule(conn, group, "SIP over TLS (signalling)")
    assert refused.value.status_code == 409 and "already exists" in str(refused.value)
    # Delete-before-replace, as the component now asks: the same request is accepted.
    conn.network.delete_security_group_rule(old)
    new = _rule(conn, group, "SIP over TLS (signalling)")
    assert new.description == "SIP over TLS (signalling)"
