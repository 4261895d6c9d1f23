"""Policy parameters: defaults, accepted spellings, and a clear error for each malformed value."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from webex_policies.exposure import ADMIN_AND_DATA_PORTS, ExposureParams, Service, parse_port_spec
from webex_policies.pack import policies
from webex_policies.params import (
    ConfigError,
    CrossDatacenterParams,
    FailureDomainParams,
    RedundancyParams,
    SecretsParams,
    ServerGroupParams,
)


def test_admin_port_spellings() -> None:
    assert [parse_port_spec(item) for item in (22, "udp/3389", "tcp/5985-5986", 8000.0)] == [
        Service("configured admin port", None, 22, 22),
        Service("configured admin port", "udp", 3389, 3389),
        Service("configured admin port", "tcp", 5985, 5986),
        Service("configured admin port", None, 8000, 8000),
    ]


def test_configured_admin_ports_add_to_the_table_never_replace_it() -> None:
    parsed = ExposureParams.parse({"adminPorts": ["tcp/9100"]})
    assert parsed.services[: len(ADMIN_AND_DATA_PORTS)] == ADMIN_AND_DATA_PORTS
    assert parsed.services[-1] == Service("configured admin port", "tcp", 9100, 9100)
    assert ExposureParams.parse({"adminPorts": []}).services == ADMIN_AND_DATA_PORTS


@pytest.mark.parametrize(
    ("params", "config", "fragment"),
    [
        (ExposureParams, {"adminPorts": ["ssh"]}, "'adminPorts' entries"),
        (ExposureParams, {"adminPorts": [True]}, "'adminPorts' entries"),
        (ExposureParams, {"adminPorts": ["tcp/0-70000"]}, "not a range within 1-65535"),
        (ExposureParams, {"adminPorts": "tcp/22"}, "must be a list of ports"),
        # Internal ranges name pools and operator networks; the Internet cannot be declared internal.
        (ExposureParams, {"internalRanges": ["0.0.0.0/0"]}, "more public address space"),
        (ExposureParams, {"internalRanges": ["128.0.0.0/1"]}, "more public address space"),
        (ExposureParams, {"internalRanges": ["::ffff:0:0/96"]}, "more public address space"),
        (ExposureParams, {"internalRanges": ["2000::/3"]}, "more public address space"),
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
    assert len(names) == len(set(names)) == 20
    assert all(name == name.lower() and " " not in name and "_" not in name for name in names)
