"""Typed parameters of each policy, their JSON config schema, and parsing with defaults.

The Pulumi CLI validates a policy's config against the schema announced in GetAnalyzerInfo and
fills in the schema's ``default`` values before calling Configure; the harness does the same. A
policy still parses its config here (defaults again, types checked) so that it behaves the same
when run with no config at all, and so that a bad value stops it with a message naming the key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

from webex_policies.model import INSTANCE, VOLUME


class ConfigError(ValueError):
    """A policy config value has the wrong type; the message names the policy and the key."""


def _string_list(config: Mapping[str, Any], key: str, default: list[str] | None = None) -> tuple[str, ...]:
    value = config.get(key, default)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key!r} must be a list of strings, not {value!r}")
    return tuple(value)


def _string_map(config: Mapping[str, Any], key: str) -> dict[str, str]:
    value = config.get(key) or {}
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise ConfigError(f"{key!r} must map names to strings, not {value!r}")
    return {str(k): v for k, v in value.items()}


def _int(config: Mapping[str, Any], key: str, default: int | None = None) -> int | None:
    value = config.get(key, default)
    if value is None:
        return None
    # JSON numbers arrive as floats through protobuf Struct; a whole float is an int.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
        raise ConfigError(f"{key!r} must be a whole number, not {value!r}")
    return int(value)


STRING_LIST: Final = {"type": "array", "items": {"type": "string"}}
DEFAULT_CONTROLLER_ROLES: Final = ["controller", "api-proxy"]
DEFAULT_PAIR_ROLES: Final = ["monitoring"]
"""The platform's pairs outside the controller plane: the monitoring pair (components/monitoring.py)."""

# --- resource policies -------------------------------------------------------------------------


@dataclass(frozen=True)
class InstanceMembershipParams:
    controller_roles: frozenset[str]
    """Instance roles (metadata ``role``) that make up the controller pair rather than a pod."""
    pair_roles: frozenset[str] = frozenset(DEFAULT_PAIR_ROLES)
    """Instance roles of the platform's other pairs (the monitoring pair): placed by their own
    anti-affinity server group, not by a pod."""

    SCHEMA: ClassVar[dict[str, Any]] = {
        "controllerRoles": {
            **STRING_LIST,
            "default": DEFAULT_CONTROLLER_ROLES,
            "description": "metadata roles of the controller plane's instance pair (controller VMs, or the "
            "HA proxy pair holding the API VIP in front of physical controllers)",
        },
        "pairRoles": {
            **STRING_LIST,
            "default": DEFAULT_PAIR_ROLES,
            "description": "metadata roles of the platform's other instance pairs (the monitoring pair), "
            "each placed by its own anti-affinity server group",
        },
    }

    @classmethod
    def parse(cls, config: Mapping[str, Any]) -> InstanceMembershipParams:
        return cls(
            frozenset(_string_list(config, "controllerRoles", DEFAULT_CONTROLLER_ROLES)),
            frozenset(_string_list(config, "pairRoles", DEFAULT_PAIR_ROLES)),
        )


NOVA_SERVER_GROUP_POLICIES: Final = ("affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity")


@dataclass(frozen=True)
class ServerGroupParams:
    allowed: frozenset[str]
    """Server group policies that may be used."""

    SCHEMA: ClassVar[dict[str, Any]] = {
        "allowedPolicies": {
            "type": "array",
            "items": {"type": "string", "enum": list(NOVA_SERVER_GROUP_POLICIES)},
            "default": list(NOVA_SERVER_GROUP_POLICIES),
            "description": "server group policies allowed (a subset of what Nova accepts)",
        },
    }

    @classmethod
    def parse(cls, config: Mapping[str, Any]) -> ServerGroupParams:
        allowed = _string_list(config, "allowedPolicies", list(NOVA_SERVER_GROUP_POLICIES))
        unknown = sorted(set(allowed) - set(NOVA_SERVER_GROUP_POLICIES))
        if unknown:
            raise ConfigError(f"'allowedPolicies' has {unknown}, which Nova does not know")
        return cls(frozenset(allowed))


DEFAULT_SECRET_WORDS: Final = r"pass(word|wd)?|secret|token|private[_-]?key|api[_-]?key|credential"


@dataclass(frozen=True)
class SecretsParams:
    key_pattern: re.Pattern[str]
    """Matches metadata keys that name a secret."""
    assignment_pattern: re.Pattern[str]
    """Matches ``<secret word> = value`` / ``: value`` lines in user data and injected files."""
    allowed_keys: frozenset[str]
    """Metadata keys that match the pattern but are known not to hold secrets."""

    SCHEMA: ClassVar[dict[str, Any]] = {
        "secretWords": {
            "type": "string",
            "default": DEFAULT_SECRET_WORDS,
            "description": "regular expression of words that mark a secret (case-insensitive)",
        },
        "allowedKeys": {
            **STRING_LIST,
            "default": [],
            "description": "metadata keys that look secret but are not (e.g. 'token_ttl')",
        },
    }

    @classmethod
    def parse(cls, config: Mapping[str, Any]) -> SecretsParams:
        words = config.get("secretWords", DEFAULT_SECRET_WORDS)
        if not isinstance(words, str):
            raise ConfigError(f"'secretWords' must be a regular expression string, not {words!r}")
        try:
            key_pattern = re.compile(rf"(^|[_\-.])({words})($|[_\-.])", re.IGNORECASE)
            # A value is a reference, not a secret, when it is a template or a lookup: ${X}, {{ x }}, <x>.
            # sudoers' NOPASSWD: is a tag (no password asked), not a key holding one (sudoers(5)): exempt
            # only as sudoers writes it, upper case and followed by a command (a path or ALL), so that
            # `nopasswd: hunter2` is still a secret; the key starts a word, so the tag cannot match from
            # its middle either.
            assignment = re.compile(
                rf"(?P<key>(?<![\w.\-])(?!(?-i:NOPASSWD):[ \t]*(?:/|ALL\b))[\w.\-]*({words})[\w.\-]*)"
                r"['\"]?[ \t]*[:=][ \t]*"
                r"(?![ \t'\"]*(\$\{|\{\{|<|$))['\"]?\S+",
                re.IGNORECASE | re.MULTILINE,
            )
        except re.error as error:
            raise ConfigError(f"'secretWords' is not a valid regular expression: {error}") from None
        return cls(key_pattern, assignment, frozenset(_string_list(config, "allowedKeys", [])))


@dataclass(frozen=True)
class AllowListParams:
    images: tuple[str, ...]
    flavors: tuple[str, ...]
    volume_types: tuple[str, ...]
    """Empty: volume types are not checked."""
    datacenter_label: str
    image_ids: Mapping[str, str] = field(default_factory=dict)
    """Image name -> the id instances boot: verified in the datacenter, or the offline plan's stand-in."""

    SCHEMA: ClassVar[dict[str, Any]] = {
        "datacenter": {"type": "string", "description": "datacenter the lists belong to (for messages)"},
        "images": {**STRING_LIST, "description": "Glance image names allowed in this datacenter"},
        "flavors": {**STRING_LIST, "description": "Nova flavor names allowed in this datacenter"},
        "volumeTypes": {**STRING_LIST, "description": "Cinder volume types allowed in this datacenter"},
        "imageIds": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "image name -> the Glance id verified for it in this datacenter (docs/images.md)",
        },
    }
    REQUIRED: ClassVar[list[str]] = ["images", "flavors"]

    @classmethod
    def parse(cls, config: Mapping[str, Any]) -> AllowListParams | None:
        """None when the lists are not configured: the policy then cannot judge and says so."""
        if "images" not in config or "flavors" not in config:
            return None
        datacenter = config.get("datacenter", "the datacenter")
        return cls(
            _string_list(config, "images"),
            _string_list(config, "flavors"),
            _string_list(config, "volumeTypes"),
            str(datacenter),
            _string_map(config, "imageIds"),
        )


@dataclass(frozen=True)
class RequiredMetadataParams:
    keys: tuple[str, ...]
    resource_types: frozenset[str]
    datacenter: str | None
    """When set, the ``datacenter`` metadata must equal it."""

    SCHEMA: ClassVar[dict[str, Any]] = {
        "keys": {
            **STRING_LIST,
            "default": ["service", "owner", "datacenter"],
            "description": "metadata keys every resource of the listed types must carry",
        },
        "resourceTypes": {
            **STRING_LIST,
            "default": [INSTANCE, VOLUME],
            "description": "type tokens of the resources that carry metadata",
        },
        "datacenter": {"type": "string", "description": "the stack's datacenter name"},
    }

    @classmethod
    def parse(cls, config: Mapping[str, Any]) -> RequiredMetadataParams:
        datacenter = config.get("datacenter")
        return cls(
            _string_list(config, "keys", ["service", "owner", "datacenter"]),
            frozenset(_string_list(config, "resourceTypes", [INSTANCE, VOLUME])),
            datacenter if isinstance(datacenter, str) and datacenter else None,
        )


# --- stack policies ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FailureDomainParams:
    failure_domains: int

    SCHEMA: ClassVar[dict[str, Any]] = {
        "failureDomains": {
            "type": "integer",
            "minimum": 1,
            "description": "number of storage failure domains in this datacenter",
        },
    }
    REQUIRED: ClassVar[list[str]] = ["failureDomains"]

    @classmethod
    def parse(cls, config: Mapping[str, Any]) -> FailureDomainParams | None:
        count = _int(config, "failureDomains")
        return None if count is None else cls(count)


@dataclass(frozen=True)
class RedundancyParams:
    min_pods: int
    min_replicas: int

    SCHEMA: ClassVar[dict[str, Any]] = {
        "minPods": {
            "type": "integer",
            "minimum": 1,
            "default": 2,
            "description": "pods every service needs to survive the loss of a host",
        },
        "minReplicas": {
            "type": "integer",
            "minimum": 1,
            "default": 2,
            "description": "replicas every volume group needs to survive a failure domain",
        },
    }

    @classmethod
    def parse(cls, config: Mapping[str, Any]) -> RedundancyParams:
        return cls(_int(config, "minPods", 2) or 2, _int(config, "minReplicas", 2) or 2)


@dataclass(frozen=True)
class ReleaseParams:
    max_unavailable: Mapping[str, int]
    """Service -> pods its release may change at once (the catalog's ``rollout.max_unavailable``)."""

    DEFAULT: ClassVar[int] = 1
    SCHEMA: ClassVar[dict[str, Any]] = {
        "maxUnavailable": {
            "type": "object",
            "additionalProperties": {"type": "integer", "minimum": 1},
            "default": {},
            "description": "per service, the pods a release may change at once (services not listed: 1)",
        },
    }

    @classmethod
    def parse(cls, config: Mapping[str, Any]) -> ReleaseParams:
        raw = config.get("maxUnavailable", {})
        if not isinstance(raw, Mapping):
            raise ConfigError(f"'maxUnavailable' must be an object of service -> integer, not {raw!r}")
        return cls({str(k): _int(raw, str(k)) or cls.DEFAULT for k in raw})

    def of(self, service: str) -> int:
        return self.max_unavailable.get(service, self.DEFAULT)


@dataclass(frozen=True)
class ReleasedParams:
    """The services the checked change releases (``release-judged-by-users``).

    The Analyzer protocol gives the pack a resource's new inputs only, never the deployed ones
    (docs/policies.md), so the pack cannot tell a release from an unchanged gate: the tool that holds
    both sides derives the list and hands it over as config (``python -m webex_cloud policy --base``,
    ``--state`` or ``--checkpoint``; pr-check passes the base commit's plan). Only this advisory policy
    reads it: no mandatory rule depends on what a change releases."""

    services: frozenset[str]

    SCHEMA: ClassVar[dict[str, Any]] = {
        "releasedServices": {
            **STRING_LIST,
            "description": "the services whose serving pods this change disrupts (its releases), derived "
            "by `python -m webex_cloud policy --write-config` from the old side (--base, --state or "
            "--checkpoint); absent: not known, and the policy is not applicable",
        },
    }

    @classmethod
    def parse(cls, config: Mapping[str, Any]) -> ReleasedParams | None:
        """None when the config does not say what the change releases."""
        if config.get("releasedServices") is None:
            return None
        return cls(frozenset(_string_list(config, "releasedServices")))


@dataclass(frozen=True)
class AnalysisParams:
    """What a release analysis needs before its verdict means anything (``release-analysis-can-judge``)."""

    scrape_interval_s: int
    """The generated monitoring's scrape interval (a probe job scrapes slower when its timeout needs)."""
    min_scrapes: int
    """Samples of the slowest job the bake must hold at least: a rate needs two, a percentile more."""
    min_requests: int
    """The least ``min_requests`` an analysis may set: fewer requests make a verdict of noise."""
    min_quantile: float
    """The lowest percentile a latency may be judged at: a median misses the slow calls users feel."""

    SCHEMA: ClassVar[dict[str, Any]] = {
        "scrapeIntervalS": {
            "type": "integer",
            "minimum": 1,
            "default": 15,
            "description": "the generated monitoring's scrape interval in seconds (derived from the code)",
        },
        "minScrapes": {
            "type": "integer",
            "minimum": 2,
            "default": 4,
            "description": "scrapes of the slowest job a wave's bake must span at least",
        },
        "minRequests": {
            "type": "integer",
            "minimum": 1,
            "default": 10,
            "description": "the smallest rollout.analysis.min_requests allowed",
        },
        "minQuantile": {
            "type": "number",
            "minimum": 0.5,
            "maximum": 1,
            "default": 0.9,
            "description": "the lowest percentile a latency metric may be judged at",
        },
    }

    @classmethod
    def parse(cls, config: Mapping[str, Any]) -> AnalysisParams:
        quantile = config.get("minQuantile", 0.9)
        if isinstance(quantile, bool) or not isinstance(quantile, (int, float)) or not 0.5 <= quantile <= 1:
            raise ConfigError(f"'minQuantile' must be a number from 0.5 to 1, not {quantile!r}")
        return cls(
            scrape_interval_s=_int(config, "scrapeIntervalS", 15) or 15,
            min_scrapes=max(2, _int(config, "minScrapes", 4) or 4),
            min_requests=max(1, _int(config, "minRequests", 10) or 10),
            min_quantile=float(quantile),
        )


@dataclass(frozen=True)
class InventoryParams:
    hosts: int

    SCHEMA: ClassVar[dict[str, Any]] = {
        "hosts": {"type": "integer", "minimum": 1, "description": "compute hosts in this datacenter"},
    }
    REQUIRED: ClassVar[list[str]] = ["hosts"]

    @classmethod
    def parse(cls, config: Mapping[str, Any]) -> InventoryParams | None:
        hosts = _int(config, "hosts")
        return None if hosts is None else cls(hosts)


@dataclass(frozen=True)
class ControllerPairParams:
    controller_roles: frozenset[str]
    pair_size: int
    vip: str | None
    """The API VIP the pair must be behind; None: any load balancer will do."""
    backends: tuple[str, ...]
    """Controller addresses that must be members behind the VIP when a load balancer holds it."""

    SCHEMA: ClassVar[dict[str, Any]] = {
        "controllerRoles": InstanceMembershipParams.SCHEMA["controllerRoles"],
        "pairSize": {"type": "integer", "minimum": 2, "default": 2, "description": "instances in the pair"},
        "vip": {"type": "string", "description": "address of the load balancer VIP in front of the pair"},
        "backends": {**STRING_LIST, "description": "controller addresses the VIP forwards to"},
    }

    @classmethod
    def parse(cls, config: Mapping[str, Any]) -> ControllerPairParams:
        vip = config.get("vip")
        return cls(
            frozenset(_string_list(config, "controllerRoles", DEFAULT_CONTROLLER_ROLES)),
            _int(config, "pairSize", 2) or 2,
            vip if isinstance(vip, str) and vip else None,
            _string_list(config, "backends", []),
        )


@dataclass(frozen=True)
class ServiceShape:
    """What a service looks like in one datacenter: what must match across datacenters."""

    pods: int
    roles: Mapping[str, int]
    """Role -> instances of that role over all pods."""
    volume_groups: Mapping[str, int]
    """Volume group name -> replicas."""

    def to_json(self) -> dict[str, Any]:
        return {
            "pods": self.pods,
            "roles": dict(sorted(self.roles.items())),
            "volumeGroups": dict(sorted(self.volume_groups.items())),
        }

    @classmethod
    def from_json(cls, raw: Any, where: str) -> ServiceShape:
        if not isinstance(raw, dict):
            raise ConfigError(f"{where} must be an object with pods, roles and volumeGroups")
        pods = _int(raw, "pods", 0) or 0
        roles, groups = raw.get("roles", {}), raw.get("volumeGroups", {})
        for key, value in (("roles", roles), ("volumeGroups", groups)):
            if not isinstance(value, dict) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in value.values()
            ):
                raise ConfigError(f"{where}.{key} must map names to counts, not {value!r}")
        return cls(pods, {k: int(v) for k, v in roles.items()}, {k: int(v) for k, v in groups.items()})


SHAPE_SCHEMA: Final = {
    "type": "object",
    "properties": {
        "pods": {"type": "integer"},
        "roles": {"type": "object", "additionalProperties": {"type": "integer"}},
        "volumeGroups": {"type": "object", "additionalProperties": {"type": "integer"}},
    },
    "required": ["pods", "roles", "volumeGroups"],
}


@dataclass(frozen=True)
class CrossDatacenterParams:
    datacenter: str
    peers: Mapping[str, Mapping[str, ServiceShape]]
    """Every other datacenter -> service -> its shape there."""
    restricted: Mapping[str, frozenset[str]]
    """Services the catalog runs in some datacenters only -> those datacenters."""

    SCHEMA: ClassVar[dict[str, Any]] = {
        "datacenter": {"type": "string", "description": "this stack's datacenter"},
        "peers": {
            "type": "object",
            "description": "other datacenter -> service -> shape there (from that stack's plan)",
            "additionalProperties": {"type": "object", "additionalProperties": SHAPE_SCHEMA},
        },
        "serviceDatacenters": {
            "type": "object",
            "default": {},
            "description": "services the catalog restricts to some datacenters -> those datacenters",
            "additionalProperties": STRING_LIST,
        },
    }
    REQUIRED: ClassVar[list[str]] = ["datacenter", "peers"]

    @classmethod
    def parse(cls, config: Mapping[str, Any]) -> CrossDatacenterParams | None:
        datacenter, peers = config.get("datacenter"), config.get("peers")
        if not isinstance(datacenter, str) or peers is None:
            return None
        if not isinstance(peers, dict):
            raise ConfigError(f"'peers' must map datacenters to their services, not {peers!r}")
        parsed = {
            peer: {
                name: ServiceShape.from_json(shape, f"peers.{peer}.{name}")
                for name, shape in (services.items() if isinstance(services, dict) else [])
            }
            for peer, services in peers.items()
        }
        restricted_raw = config.get("serviceDatacenters", {})
        if not isinstance(restricted_raw, dict):
            raise ConfigError(
                f"'serviceDatacenters' must map services to datacenters, not {restricted_raw!r}"
            )
        restricted = {name: frozenset(_string_list(restricted_raw, name)) for name in restricted_raw}
        return cls(datacenter, parsed, restricted)
