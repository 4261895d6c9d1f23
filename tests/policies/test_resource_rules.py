"""Resource rules as plain functions: passes, fails, and says nothing about what is unknown."""

from __future__ import annotations

from typing import Any

import pytest
from webex_policies import resource_rules as rules
from webex_policies.model import INSTANCE, SERVER_GROUP, SUBNET, VOLUME, Resource
from webex_policies.params import (
    AllowListParams,
    InstanceMembershipParams,
    RequiredMetadataParams,
    SecretsParams,
    ServerGroupParams,
)
from webex_policies.values import UNKNOWN, thaw

U = UNKNOWN


def res(kind: str, props: dict[str, Any], *, protect: bool = False, name: str = "r") -> Resource:
    return Resource(
        type=kind, urn=f"urn:pulumi:dc1::webex-cloud::{kind}::{name}", name=name, props=props, protect=protect
    )


POD_KEY = "dc1/messaging/messaging-pod-0"


def volume(**changes: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "metadata": {
            "service": "messaging",
            "owner": "team",
            "datacenter": "dc1",
            "webex_volume_group": "dc1/messaging/messages",
        },
        "schedulerHints": [{"additionalProperties": {"webex_volume_group": "dc1/messaging/messages"}}],
        "volumeType": "ssd",
    }
    props.update(changes)
    return props


def instance(**changes: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "flavorName": "m1.medium",
        "imageId": "img-webex-base",
        "metadata": {
            "service": "messaging",
            "owner": "team",
            "datacenter": "dc1",
            "pod": "messaging-pod-0",
            "role": "app",
            "webex_service": "dc1/messaging",
            "webex_pod": POD_KEY,
            "webex_pod_role": "anchor",
        },
        "schedulerHints": [{"group": "g-0", "additionalProperties": {"webex_pod": POD_KEY}}],
    }
    props.update(changes)
    return props


MEMBERSHIP = InstanceMembershipParams.parse({})


class TestVolumeProtected:
    def test_protected_volume_passes(self) -> None:
        assert rules.volume_protected(res(VOLUME, volume(), protect=True)) == []

    def test_unprotected_volume_fails(self) -> None:
        assert "not protected" in rules.volume_protected(res(VOLUME, volume()))[0]

    def test_other_types_are_not_its_concern(self) -> None:
        assert rules.volume_protected(res(INSTANCE, instance())) == []


class TestVolumeGroupHints:
    def test_hinted_replica_passes(self) -> None:
        assert rules.volume_diversity_hints(res(VOLUME, volume())) == []

    def test_volume_outside_any_group_fails(self) -> None:
        props = volume(metadata={"service": "messaging"})
        assert "no metadata 'webex_volume_group'" in rules.volume_diversity_hints(res(VOLUME, props))[0]

    def test_missing_hint_fails(self) -> None:
        assert (
            "lacks the scheduler hint"
            in rules.volume_diversity_hints(res(VOLUME, volume(schedulerHints=[])))[0]
        )

    def test_hint_naming_another_group_fails(self) -> None:
        props = volume(
            schedulerHints=[
                {"additionalProperties": {"webex_volume_group": "dc1/other/x", "webex_replica": "0"}}
            ]
        )
        assert rules.volume_diversity_hints(res(VOLUME, props))

    @pytest.mark.parametrize(
        "changes",
        [
            {"metadata": U},
            {"metadata": {"webex_volume_group": U}},
            {"schedulerHints": U},
            {"schedulerHints": [U]},
            {"schedulerHints": [{"additionalProperties": U}]},
            {"schedulerHints": [{"additionalProperties": {"webex_volume_group": U}}]},
        ],
    )
    def test_unknowns_report_nothing(self, changes: dict[str, Any]) -> None:
        assert rules.volume_diversity_hints(res(VOLUME, volume(**changes))) == []


class TestSingleValuedHints:
    def test_one_value_per_hint_map_passes(self) -> None:
        assert rules.single_valued_hints(res(INSTANCE, instance())) == []
        assert rules.single_valued_hints(res(VOLUME, volume())) == []

    def test_two_distinct_values_fail(self) -> None:
        # terraform-provider-openstack v3.4.0 ranges over this Go map to hash the set element.
        props = volume(
            schedulerHints=[{"additionalProperties": {"webex_volume_group": "dc1/m/s", "webex_replica": "0"}}]
        )
        assert "2 distinct values" in rules.single_valued_hints(res(VOLUME, props))[0]


class TestInstanceMembership:
    def test_pod_instance_passes(self) -> None:
        assert rules.instance_membership(res(INSTANCE, instance()), MEMBERSHIP) == []

    def test_controller_with_group_passes(self) -> None:
        props = instance(metadata={"role": "controller"}, schedulerHints=[{"group": "ctl"}])
        assert rules.instance_membership(res(INSTANCE, props), MEMBERSHIP) == []

    def test_controller_without_group_fails(self) -> None:
        props = instance(metadata={"role": "controller"}, schedulerHints=[])
        assert "no server group hint" in rules.instance_membership(res(INSTANCE, props), MEMBERSHIP)[0]

    def test_monitoring_pair_member_needs_its_group(self) -> None:
        apart = instance(
            metadata={"service": "monitoring", "role": "monitoring"}, schedulerHints=[{"group": "m"}]
        )
        assert rules.instance_membership(res(INSTANCE, apart), MEMBERSHIP) == []
        loose = instance(metadata={"service": "monitoring", "role": "monitoring"}, schedulerHints=[])
        assert "no server group hint" in rules.instance_membership(res(INSTANCE, loose), MEMBERSHIP)[0]

    def test_loose_instance_fails(self) -> None:
        props = instance(metadata={"service": "messaging", "role": "app"}, schedulerHints=[])
        assert "neither in a pod" in rules.instance_membership(res(INSTANCE, props), MEMBERSHIP)[0]

    def test_pod_instance_without_hints_fails(self) -> None:
        problems = rules.instance_membership(res(INSTANCE, instance(schedulerHints=[])), MEMBERSHIP)
        assert any("no server group hint" in p for p in problems)
        assert any("lacks the scheduler hint" in p for p in problems)

    def test_hint_for_another_pod_fails(self) -> None:
        props = instance(
            schedulerHints=[
                {"group": "g", "additionalProperties": {"webex_pod": "dc1/messaging/messaging-pod-1"}}
            ]
        )
        assert rules.instance_membership(res(INSTANCE, props), MEMBERSHIP)

    def test_anchor_outside_a_group_and_member_inside_one_fail(self) -> None:
        anchor = instance(schedulerHints=[{"additionalProperties": {"webex_pod": POD_KEY}}])
        assert "anchors join" in rules.instance_membership(res(INSTANCE, anchor), MEMBERSHIP)[0]
        member = instance()
        member["metadata"] = {**member["metadata"], "webex_pod_role": "member"}
        assert (
            "members follow their anchor" in rules.instance_membership(res(INSTANCE, member), MEMBERSHIP)[0]
        )

    def test_pod_instance_without_the_pod_metadata_fails(self) -> None:
        props = instance()
        props["metadata"] = {k: v for k, v in props["metadata"].items() if not k.startswith("webex_")}
        assert "lacks the metadata" in rules.instance_membership(res(INSTANCE, props), MEMBERSHIP)[0]

    def test_configured_controller_roles(self) -> None:
        params = InstanceMembershipParams.parse({"controllerRoles": ["api-controller"]})
        props = instance(metadata={"role": "api-controller"}, schedulerHints=[{"group": "ctl"}])
        assert rules.instance_membership(res(INSTANCE, props), params) == []

    @pytest.mark.parametrize(
        "changes",
        [
            {"metadata": U},
            {"metadata": {"role": U, "pod": "p"}},
            {"metadata": {"role": "app", "pod": U}},
            {"schedulerHints": U},
            {"schedulerHints": [U]},
            {"schedulerHints": [{"group": U, "additionalProperties": {"webex_pod": POD_KEY}}]},
            {"schedulerHints": [{"group": "g", "additionalProperties": U}]},
            {"schedulerHints": [{"group": "g", "additionalProperties": {"webex_pod": U}}]},
        ],
    )
    def test_unknowns_report_nothing(self, changes: dict[str, Any]) -> None:
        assert rules.instance_membership(res(INSTANCE, instance(**changes)), MEMBERSHIP) == []


class TestServerGroupPolicy:
    params = ServerGroupParams.parse({})

    @pytest.mark.parametrize(
        "policy", ["affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity", ["affinity"]]
    )
    def test_nova_policies_pass(self, policy: Any) -> None:
        assert rules.server_group_policy(res(SERVER_GROUP, {"policies": policy}), self.params) == []

    @pytest.mark.parametrize("policy", ["affinty", "", None, ["affinity", "anti-affinity"], "Affinity"])
    def test_anything_else_fails(self, policy: Any) -> None:
        assert rules.server_group_policy(res(SERVER_GROUP, {"policies": policy}), self.params)

    def test_config_narrows_the_set(self) -> None:
        params = ServerGroupParams.parse({"allowedPolicies": ["affinity", "anti-affinity"]})
        assert rules.server_group_policy(res(SERVER_GROUP, {"policies": "soft-affinity"}), params)

    @pytest.mark.parametrize("policy", [U, [U]])
    def test_unknown_reports_nothing(self, policy: Any) -> None:
        assert rules.server_group_policy(res(SERVER_GROUP, {"policies": policy}), self.params) == []


class TestPlaintextSecrets:
    params = SecretsParams.parse({})

    def check(self, **changes: Any) -> list[str]:
        return rules.plaintext_secrets(res(INSTANCE, instance(**changes)), self.params)

    def test_plain_instance_passes(self) -> None:
        assert self.check(userData="#cloud-config\npackages: [nginx]\n") == []

    @pytest.mark.parametrize("metadata_key", ["db_password", "api-key", "token", "private_key", "PASSWORD"])
    def test_secret_metadata_key_fails(self, metadata_key: str) -> None:
        assert self.check(metadata={"service": "x", metadata_key: "s3cr3t"})

    def test_allowed_key_passes(self) -> None:
        params = SecretsParams.parse({"allowedKeys": ["token_ttl"]})
        props = instance(metadata={"token_ttl": "3600"})
        assert rules.plaintext_secrets(res(INSTANCE, props), params) == []

    @pytest.mark.parametrize(
        "user_data",
        [
            "#cloud-config\npassword: hunter2\n",
            "export DB_PASSWORD=hunter2\n",
            "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n",
            "api_key = 'abc123'\n",
            "NOPASSWD_TOKEN=abc123\n",
            "sudo: ALL=(root) NOPASSWD: /bin/x\npassword: hunter2\n",
            # the sudoers exemption is the tag before a command, not the word
            "nopasswd: hunter2\n",
            "NOPASSWD: hunter2\n",
            "sudo: ALL=(root) NOPASSWD: hunter2\n",
        ],
    )
    def test_secret_in_user_data_fails(self, user_data: str) -> None:
        assert self.check(userData=user_data)

    @pytest.mark.parametrize(
        "user_data",
        [
            "password: ${DB_PASSWORD}\n",
            "password: {{ vault_password }}\n",
            "password:\n",
            "password_file: <path>\n",
            # sudoers' tag, as cloud-init's users[].sudo writes it (the monitoring nodes' helper rule)
            '  sudo: ALL=(root) NOPASSWD: /usr/local/sbin/webex-monitoring-secrets ""\n',
        ],
    )
    def test_references_pass(self, user_data: str) -> None:
        assert self.check(userData=user_data) == []

    def test_private_key_in_injected_file_fails(self) -> None:
        assert self.check(
            personalities=[{"file": "/root/.ssh/id_rsa", "content": "-----BEGIN RSA PRIVATE KEY-----\n..."}]
        )

    @pytest.mark.parametrize(
        "changes",
        [
            {"userData": U},
            {"metadata": U},
            {"personalities": U},
            {"personalities": [{"file": "/x", "content": U}]},
        ],
    )
    def test_unknowns_report_nothing(self, changes: dict[str, Any]) -> None:
        assert self.check(**changes) == []

    def test_secret_key_with_a_computed_value_still_fails(self) -> None:
        # The key alone says a secret goes into metadata; a value known only at deploy time is the
        # usual case (a generated password), not a reason to stay silent.
        assert self.check(metadata={"db_password": U})


class TestAllowLists:
    params = AllowListParams(
        ("webex-base",), ("m1.medium",), ("ssd",), "dc1", {"webex-base": "img-webex-base", "old": "img-old"}
    )

    def test_listed_instance_and_volume_pass(self) -> None:
        assert rules.allow_lists(res(INSTANCE, instance()), self.params) == []
        assert rules.allow_lists(res(VOLUME, volume()), self.params) == []

    @pytest.mark.parametrize(
        "changes",
        [
            {"imageId": "7c1e..."},
            {"imageId": "img-old"},
            {"imageId": None, "imageName": "webex-base"},
            {"flavorName": "m1.huge"},
            {"flavorName": None, "flavorId": "42"},
        ],
    )
    def test_unlisted_instance_fails(self, changes: dict[str, Any]) -> None:
        assert rules.allow_lists(res(INSTANCE, instance(**changes)), self.params)

    def test_unlisted_volume_type_fails(self) -> None:
        assert rules.allow_lists(res(VOLUME, volume(volumeType="gold")), self.params)

    def test_parse_needs_both_lists(self) -> None:
        assert AllowListParams.parse({"images": ["a"]}) is None
        assert AllowListParams.parse({"images": ["a"], "flavors": ["b"]}) == AllowListParams(
            ("a",), ("b",), (), "the datacenter"
        )

    @pytest.mark.parametrize(
        "changes", [{"imageId": U}, {"flavorName": U}, {"imageId": None, "imageName": U}]
    )
    def test_unknowns_report_nothing(self, changes: dict[str, Any]) -> None:
        assert rules.allow_lists(res(INSTANCE, instance(**changes)), self.params) == []


class TestRequiredMetadata:
    params = RequiredMetadataParams.parse({"datacenter": "dc1"})

    def test_complete_metadata_passes(self) -> None:
        assert rules.required_metadata(res(INSTANCE, instance()), self.params) == []
        assert rules.required_metadata(res(VOLUME, volume()), self.params) == []

    def test_missing_owner_fails(self) -> None:
        problems = rules.required_metadata(
            res(VOLUME, volume(metadata={"service": "s", "datacenter": "dc1"})), self.params
        )
        assert problems == ["'r' lacks required metadata: owner"]

    def test_wrong_datacenter_fails(self) -> None:
        props = instance(metadata={"service": "s", "owner": "o", "datacenter": "dc2"})
        assert "says datacenter 'dc2'" in rules.required_metadata(res(INSTANCE, props), self.params)[0]

    def test_types_without_metadata_are_not_its_concern(self) -> None:
        assert rules.required_metadata(res(SUBNET, {"cidr": "10.0.0.0/24"}), self.params) == []

    @pytest.mark.parametrize("metadata", [U, {"service": U, "owner": U, "datacenter": U}])
    def test_unknowns_report_nothing(self, metadata: Any) -> None:
        assert rules.required_metadata(res(INSTANCE, instance(metadata=metadata)), self.params) == []


def test_thaw_turns_every_sentinel_into_unknown() -> None:
    raw = {
        "a": "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
        "b": ["1c4a061d-8072-4f0a-a4cb-0ff528b18fe7", "x"],
        "c": {"d": "dd056dcd-154b-4c76-9bd3-c8f88648b5ff"},
    }
    assert thaw(raw) == {"a": U, "b": [U, "x"], "c": {"d": U}}
