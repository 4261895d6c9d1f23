"""Policy config: the datacenter facts derived from the plans, the operator's file, and the CLI's merge.

How the pack learns about the datacenter: through policy config, like any CrossGuard pack. The
facts are derived here from the plans alone: the plan's ``datacenter`` section (the validated stack
config), the other stacks' plans (their services' shape) and every plan's ``services`` (which of
them the catalog restricts to some datacenters). ``--write-config`` saves the result, so an
operator runs the very same checks with
``pulumi preview --policy-pack policies --policy-pack-config <file>``.

The merge follows the CLI (pulumi/sdk/go/common/resource/plugin/analyzer_config.go,
ReconcilePolicyPackConfig): schema defaults and each policy's default level, then the pack's
initial config, then ``"all": <level>``, then each policy's entry; then every policy's properties
are validated against its schema, ``required`` included.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any, Final

import jsonschema
from pulumi.runtime.proto import analyzer_pb2
from webex_policies import inventory
from webex_policies.model import Resource
from webex_policies.pack import RENAMED_POLICIES

from webex_cloud.facts.metrics import SCRAPE_INTERVAL_S
from webex_cloud.input_files import InputFileError, read_bounded
from webex_cloud.policy_check.analyzer import struct_to_dict

LEVELS: Final = ("advisory", "mandatory", "remediate", "disabled")
LEVEL_NAMES: Final = {
    analyzer_pb2.ADVISORY: "advisory",
    analyzer_pb2.MANDATORY: "mandatory",
    analyzer_pb2.REMEDIATE: "remediate",
    analyzer_pb2.DISABLED: "disabled",
}


class PolicyConfigError(ValueError):
    """The policy config is malformed or does not satisfy a policy's schema."""


def plan_shapes(plan: Mapping[str, Any]) -> dict[str, Any]:
    """Service -> shape JSON of one plan, computed by the pack's own inventory code (the rules'
    distribution, installed from policies/), so a peer is described exactly as the pack sees it."""
    resources = (
        Resource(type=r["type"], urn=r["urn"], name=r["name"], props=r.get("inputs", {}))
        for r in plan.get("resources", [])
    )
    return {name: shape.to_json() for name, shape in inventory.shapes(inventory.build(resources)).items()}


def restricted_services(plans: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Services the catalog restricts to some datacenters (the others run everywhere), per the plans.

    A service absent from the first plans is taken from the later ones: pass the checked plan last,
    so that its catalog (the pull request's) wins over what a peer's plan was rendered from.
    """
    restricted: dict[str, list[str]] = {}
    for plan in plans:
        for name, service in (plan.get("services") or {}).items():
            datacenters = service.get("datacenters") if isinstance(service, Mapping) else None
            if datacenters is None:
                restricted.pop(name, None)
            else:
                restricted[name] = [str(d) for d in datacenters]
    return dict(sorted(restricted.items()))


def internal_ranges(datacenter: Mapping[str, Any], peers: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The stacks' own address space, counted as internal by the exposure policy: this datacenter's
    pool, pinned subnets and management network, and every peer's pool (what ``peer-dc`` admits).
    The loader accepts a non-private pool only when the stack file declares it public with a reason."""
    ranges = {str(datacenter["cidr_pool"])} if datacenter.get("cidr_pool") else set()
    ranges.update(str(net) for net in (datacenter.get("subnets") or {}).values())
    management = (datacenter.get("controllers") or {}).get("management") or {}
    if isinstance(management, Mapping) and management.get("cidr"):
        ranges.add(str(management["cidr"]))
    for peer_plan in peers.values():
        pool = (peer_plan.get("datacenter") or {}).get("cidr_pool")
        if pool:
            ranges.add(str(pool))
    return sorted(ranges)


def derived_config(
    plan: Mapping[str, Any],
    peers: Mapping[str, Mapping[str, Any]],
    released: Collection[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """The policy config the plan implies: per-policy facts about this datacenter and its peers, and,
    when the old side is known, the services this change releases (``released``: the caller diffs it;
    None leaves ``release-judged-by-users`` not applicable rather than guessing)."""
    datacenter = plan.get("datacenter")
    if not isinstance(datacenter, dict):
        raise PolicyConfigError("the plan has no 'datacenter' section (docs/plan-format.md)")
    name = str(datacenter.get("name") or plan.get("stack"))
    config: dict[str, dict[str, Any]] = {
        "datacenter-allow-lists": {
            "datacenter": name,
            "images": sorted(datacenter.get("images", [])),
            "flavors": sorted(datacenter.get("flavors", {})),
            "volumeTypes": sorted(datacenter.get("volume_types", [])),
            "imageIds": dict(sorted((plan.get("image_ids") or {}).items())),
        },
        "required-metadata": {"datacenter": name},
        "volume-replicas-within-failure-domains": {
            "failureDomains": len(datacenter.get("failure_domains", {}))
        },
        "pods-fit-host-inventory": {"hosts": len(datacenter.get("hosts", []))},
        "release-waves-health-gated": {
            "maxUnavailable": {
                str(service): int(facts.get("max_unavailable", 1))
                for service, facts in sorted((plan.get("services") or {}).items())
                if isinstance(facts, Mapping)
            }
        },
        "cross-datacenter-same-shape": {
            "datacenter": name,
            "peers": {peer: plan_shapes(peer_plan) for peer, peer_plan in sorted(peers.items())},
            "serviceDatacenters": restricted_services([*(peers[p] for p in sorted(peers)), plan]),
        },
    }
    config["no-public-admin-exposure"] = {"internalRanges": internal_ranges(datacenter, peers)}
    config["release-analysis-can-judge"] = {"scrapeIntervalS": probe_interval_s(datacenter)}
    if released is not None:
        config["release-judged-by-users"] = {"releasedServices": sorted(released)}
    controllers = datacenter.get("controllers")
    if isinstance(controllers, dict) and controllers.get("vip"):
        config["controller-pair-anti-affinity"] = {
            "vip": str(controllers["vip"]),
            "backends": [str(h["address"]) for h in controllers.get("hosts", []) if isinstance(h, dict)],
        }
    return config


def load_config_file(path: Path) -> dict[str, Any]:
    """A ``--policy-pack-config`` file: policy name -> level string, or object with enforcementLevel."""
    try:
        text = read_bounded(path).decode("utf-8")
    except InputFileError as error:
        raise PolicyConfigError(f"policy config {path}: the file {error}") from None
    except UnicodeDecodeError:
        raise PolicyConfigError(f"policy config {path}: not UTF-8 text") from None
    except OSError as error:
        raise PolicyConfigError(f"cannot read policy config {path}: {error.strerror}") from None
    if not text.strip():
        return {}
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise PolicyConfigError(f"{path}: not valid JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(document, dict):
        raise PolicyConfigError(f"{path}: must be a JSON object of policy name -> config")
    return document


def _split(name: str, value: Any, where: str) -> tuple[str | None, dict[str, Any]]:
    if isinstance(value, str):
        if value not in LEVELS:
            raise PolicyConfigError(
                f"{where}: {name}: {value!r} is not an enforcement level ({', '.join(LEVELS)})"
            )
        return value, {}
    if not isinstance(value, dict):
        raise PolicyConfigError(f"{where}: {name}: must be an enforcement level or an object")
    properties = dict(value)
    level = properties.pop("enforcementLevel", None)
    if level is not None and level not in LEVELS:
        raise PolicyConfigError(
            f"{where}: {name}.enforcementLevel: {level!r} is not an enforcement level ({', '.join(LEVELS)})"
        )
    return level, properties


def reconcile(
    info: analyzer_pb2.AnalyzerInfo, layers: list[tuple[str, Mapping[str, Any]]]
) -> dict[str, tuple[str, dict[str, Any]]]:
    """Merge config ``layers`` (label, document) over the pack's defaults; validate like the CLI."""
    result: dict[str, tuple[str, dict[str, Any]]] = {}
    schemas: dict[str, dict[str, Any]] = {}
    for policy in info.policies:
        properties = struct_to_dict(policy.configSchema.properties)
        schemas[policy.name] = {
            "type": "object",
            "properties": properties,
            **({"required": list(policy.configSchema.required)} if policy.configSchema.required else {}),
        }
        defaults = {k: v["default"] for k, v in properties.items() if isinstance(v, dict) and "default" in v}
        result[policy.name] = (LEVEL_NAMES[policy.enforcementLevel], defaults)
    initial = {
        name: {"enforcementLevel": LEVEL_NAMES[c.enforcementLevel], **struct_to_dict(c.properties)}
        for name, c in info.initialConfig.items()
    }
    all_layers = [("the pack's initial config", initial), *layers]
    for where, document in all_layers:
        if "all" in document:
            level, _ = _split("all", document["all"], where)
            if level is not None:
                result = {name: (level, props) for name, (_, props) in result.items()}
        for name, value in document.items():
            if name == "all":
                continue
            if name not in result:
                known = ", ".join(sorted(result))
                renamed = RENAMED_POLICIES.get(name)
                hint = f" ({name!r} is now {renamed!r})" if renamed else ""
                raise PolicyConfigError(
                    f"{where}: no policy named {name!r} in the pack{hint}; policies: {known}"
                )
            level, properties = _split(name, value, where)
            old_level, old_properties = result[name]
            result[name] = (level or old_level, {**old_properties, **properties})
    problems = []
    for name, (_, properties) in sorted(result.items()):
        validator = jsonschema.Draft7Validator(schemas[name])
        for error in sorted(validator.iter_errors(properties), key=lambda e: list(e.path)):
            path = ".".join(str(p) for p in error.path)
            problems.append(f"policy {name}{'.' + path if path else ''}: {error.message}")
    if problems:
        listing = "\n  ".join(problems)
        raise PolicyConfigError(f"policy config does not satisfy the pack's schema:\n  {listing}")
    return result


def probe_interval_s(datacenter: Mapping[str, Any]) -> int:
    """How often this datacenter's monitoring scrapes (its stack file's ``monitoring.timing``), so that a
    bake is judged against the samples this datacenter's Prometheus will really hold."""
    monitoring = datacenter.get("monitoring")
    timing = monitoring.get("timing") if isinstance(monitoring, Mapping) else None
    interval = timing.get("probe_interval_s") if isinstance(timing, Mapping) else None
    return int(interval) if isinstance(interval, int) else SCRAPE_INTERVAL_S
