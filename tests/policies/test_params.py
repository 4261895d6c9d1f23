"""Policy parameters: defaults, accepted spellings, and a clear error for each malformed value."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from webex_policies.pack import policies
from webex_policies.params import (
    AdminPort,
    AdminPortsParams,
    ConfigError,
    CrossDatacenterParams,
    FailureDomainParams,
    RedundancyParams,
    SecretsParams,
    ServerGroupParams,
)


def test_admin_port_spellings() -> None:
    parsed = AdminPortsParams.parse({"adminPorts": [22, "udp/3389", "tcp/5985-5986", 8000.0]})
    assert parsed.admin_ports == (
        AdminPort(None, 22, 22),
        AdminPort("udp", 3389, 3389),
        AdminPort("tcp", 5985, 5986),
        AdminPort(None, 8000, 8000),
    )


@pytest.mark.parametrize(
    ("params", "config", "fragment"),
    [
        (AdminPortsParams, {"adminPorts": ["ssh"]}, "'adminPorts' entries"),
        (AdminPortsParams, {"adminPorts": [True]}, "'adminPorts' entries"),
        (ServerGroupParams, {"allowedPolicies": ["together"]}, "Nova does not know"),
        (ServerGroupParams, {"allowedPolicies": "affinity"}, "must be a list of strings"),
        (SecretsParams, {"secretWords": "("}, "not a valid regular expression"),
        (FailureDomainParams, {"failureDomains": 2.5}, "must be a whole number"),
        (RedundancyParams, {"minPods": "two"}, "must be a whole number"),
        (CrossDatacenterParams, {"datacenter": "dc1", "peers": []}, "'peers' must map"),
        (
            CrossDatacenterParams,
            {"datacenter": "dc1", "peers": {"dc2": {"m": {"pods": 1, "roles": []}}}},
            "peers.dc2.m.roles",
        ),
    ],
)
def test_malformed_values_name_the_key(params: Any, config: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(")):
        params.parse(config)


def test_protobuf_numbers_are_whole() -> None:
    # Config reaches the pack through a protobuf Struct, where every number is a double.
    assert FailureDomainParams.parse({"failureDomains": 3.0}) == FailureDomainParams(3)


def test_facts_absent_means_not_configured() -> None:
    assert FailureDomainParams.parse({}) is None
    assert CrossDatacenterParams.parse({"peers": {}}) is None


def test_every_schema_is_valid_json_schema_and_accepts_its_defaults() -> None:
    for policy in policies():
        if policy.config_schema is None:
            continue
        schema = {"type": "object", "properties": policy.config_schema.properties}
        jsonschema.Draft7Validator.check_schema(schema)
        defaults = {k: v["default"] for k, v in policy.config_schema.properties.items() if "default" in v}
        jsonschema.validate(defaults, schema)


def test_policy_names_are_kebab_case_and_unique() -> None:
    names = [p.name for p in policies()]
    assert len(names) == len(set(names)) == 19
    assert all(name == name.lower() and " " not in name and "_" not in name for name in names)
