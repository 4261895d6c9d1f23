"""The CrossGuard policies: thin adapters from the SDK's arguments to the plain rule functions.

An adapter filters on the type tokens its rule is about (before touching any property, so the
other resources cost nothing), thaws the properties (unknowns made explicit), parses its config,
and reports what the rule returns. Policies that need facts about the datacenter (allow-lists,
failure domains, hosts, the other datacenters' shapes) get them from policy config; when the
config is absent they report "not applicable" with the reason instead of guessing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from webex_policies import analysis_rules, exposure, inventory, resource_rules, stack_rules
from webex_policies.model import (
    CONTROLLER_PAIR,
    INSTANCE,
    LB_MEMBER,
    LB_MEMBERS,
    LOAD_BALANCER,
    LOCAL_COMMAND,
    PORT,
    REMOTE_COMMAND,
    SEC_GROUP,
    SEC_GROUP_RULE,
    SERVER_GROUP,
    SUBNET,
    VOLUME,
    Resource,
)
from webex_policies.params import (
    AllowListParams,
    AnalysisParams,
    ConfigError,
    ControllerPairParams,
    CrossDatacenterParams,
    FailureDomainParams,
    InstanceMembershipParams,
    InventoryParams,
    RedundancyParams,
    ReleasedParams,
    ReleaseParams,
    RequiredMetadataParams,
    SecretsParams,
    ServerGroupParams,
)
from webex_policies.values import thaw

PACK_NAME = "webex-cloud-policies"
RENAMED_POLICIES: Final = {"no-admin-port-open-to-world": "no-public-admin-exposure"}
"""Former policy names -> the policy that now does their job (named in the harness's config errors)."""


class _ParamCache:
    """Parse each distinct config once: the SDK hands every Analyze call a fresh copy of it."""

    def __init__(self, policy: str, parse: Callable[[Mapping[str, Any]], Any]) -> None:
        self._policy, self._parse = policy, parse
        self._cache: dict[str, Any] = {}

    def get(self, config: Mapping[str, Any]) -> Any:
        key = json.dumps(config, sort_keys=True, default=str)
        if key not in self._cache:
            try:
                self._cache[key] = self._parse(config)
            except ConfigError as error:
                raise ConfigError(f"policy {self._policy}: {error}") from None
        return self._cache[key]


def _no_params(_config: Mapping[str, Any]) -> None:
    return None


def _resource(args: ResourceValidationArgs) -> Resource:
    return Resource(
        type=args.resource_type,
        urn=args.urn,
        name=args.name,
        props=thaw(args.props),
        protect=bool(args.opts.protect),
        parent=args.opts.parent or "",
    )


def _stack_resources(resources: Iterable[PolicyResource], types: frozenset[str]) -> list[Resource]:
    return [
        Resource(
            type=r.resource_type,
            urn=r.urn,
            name=r.name,
            props=thaw(r.props),
            protect=bool(r.opts.protect),
            parent=r.parent.urn if r.parent is not None else "",
            dependencies=tuple(d.urn for d in r.dependencies),
            property_dependencies={k: tuple(d.urn for d in v) for k, v in r.property_dependencies.items()},
        )
        for r in resources
        if r.resource_type in types
    ]


def resource_policy(
    name: str,
    description: str,
    types: Iterable[str],
    rule: Callable[[Resource, Any], list[str]],
    level: EnforcementLevel,
    params: type[Any] | None = None,
    missing_config: str = "",
) -> ResourceValidationPolicy:
    """Wrap ``rule(resource, params)`` as a ResourceValidationPolicy filtered on ``types``."""
    wanted = frozenset(types)
    cache = _ParamCache(name, params.parse if params is not None else _no_params)

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if args.resource_type not in wanted:
            return
        parsed = cache.get(args.get_config())
        if params is not None and parsed is None:
            args.not_applicable(missing_config)
        for message in rule(_resource(args), parsed):
            report(message, None)

    return ResourceValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=level,
        config_schema=_schema(params),
    )


def stack_policy(
    name: str,
    description: str,
    types: Iterable[str],
    rule: Callable[[list[Resource], Any], list[stack_rules.Violation]],
    level: EnforcementLevel,
    params: type[Any] | None = None,
    missing_config: str = "",
) -> StackValidationPolicy:
    """Wrap ``rule(resources, params)`` as a StackValidationPolicy over the resources of ``types``."""
    wanted = frozenset(types)
    cache = _ParamCache(name, params.parse if params is not None else _no_params)

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        parsed = cache.get(args.get_config())
        if params is not None and parsed is None:
            args.not_applicable(missing_config)
        try:
            violations = rule(_stack_resources(args.resources, wanted), parsed)
        except stack_rules.NotApplicable as reason:
            args.not_applicable(str(reason))
        for message, urn in violations:
            report(message, urn)

    return StackValidationPolicy(
        name=name,
        description=description,
        validate=validate,
        enforcement_level=level,
        config_schema=_schema(params),
    )


def _schema(params: type[Any] | None) -> PolicyConfigSchema | None:
    if params is None:
        return None
    return PolicyConfigSchema(properties=params.SCHEMA, required=getattr(params, "REQUIRED", None))


def _facts(what: str) -> str:
    return (
        f"no {what} in policy config; generate it with "
        "`python -m webex_cloud policy --stack <stack> --write-config <file>`"
    )


def policies() -> list[Policy]:
    """Every policy of the pack, in the order the CLI lists them."""
    mandatory, advisory = EnforcementLevel.MANDATORY, EnforcementLevel.ADVISORY
    return [
        resource_policy(
            "volume-protected",
            "Volumes hold the only copies of service data: each must be protected so that no refactoring "
            "or replacement can delete one without an explicit unprotect.",
            [VOLUME],
            lambda r, _p: resource_rules.volume_protected(r),
            mandatory,
        ),
        resource_policy(
            "volume-group-hints",
            "Every volume belongs to a volume group and carries its diversity hints; without them the "
            "Cinder filter cannot keep the group's replicas in distinct storage failure domains.",
            [VOLUME],
            lambda r, _p: resource_rules.volume_diversity_hints(r),
            mandatory,
        ),
        resource_policy(
            "scheduler-hints-single-valued",
            "Each scheduler-hint map of an instance or volume carries one value: the OpenStack provider "
            "hashes the map in Go's random order, and two values can turn an in-place update into a "
            "replacement.",
            [INSTANCE, VOLUME],
            lambda r, _p: resource_rules.single_valued_hints(r),
            mandatory,
        ),
        resource_policy(
            "instance-in-pod-or-controller-pair",
            "Every instance belongs to a pod (the pod hint and metadata; its anchor in the service's "
            "anti-affinity group) or to the "
            "controller pair; anything else escapes the placement guarantees of the Nova filter.",
            [INSTANCE],
            resource_rules.instance_membership,
            mandatory,
            InstanceMembershipParams,
        ),
        resource_policy(
            "server-group-policy-valid",
            "Server group policies must be one Nova knows (affinity, anti-affinity, soft-affinity, "
            "soft-anti-affinity); a misspelled policy is rejected at deploy time or leaves a pod unplaced.",
            [SERVER_GROUP],
            resource_rules.server_group_policy,
            mandatory,
            ServerGroupParams,
        ),
        resource_policy(
            "no-plaintext-secret-in-instance",
            "Instance metadata, user data and injected files are readable by anything on the instance and "
            "by Nova API users; passwords, private keys and tokens must come from a secret store instead.",
            [INSTANCE],
            resource_rules.plaintext_secrets,
            mandatory,
            SecretsParams,
        ),
        resource_policy(
            "datacenter-allow-lists",
            "Instances use only the images and flavors (and volumes only the volume types) the datacenter "
            "publishes: those are patched, licensed and sized for its hosts.",
            [INSTANCE, VOLUME],
            resource_rules.allow_lists,
            mandatory,
            AllowListParams,
            _facts("image/flavor allow-list"),
        ),
        resource_policy(
            "required-metadata",
            "Instances and volumes carry service, owner and datacenter metadata so that operators know "
            "whom to call and policies can group them by service.",
            [INSTANCE, VOLUME],
            resource_rules.required_metadata,
            advisory,
            RequiredMetadataParams,
        ),
        stack_policy(
            "volume-replicas-within-failure-domains",
            "A volume group cannot have more replicas than the datacenter has storage failure domains: "
            "two replicas in one domain are lost together.",
            [VOLUME],
            lambda rs, p: stack_rules.replicas_within_failure_domains(inventory.build(rs), p),
            mandatory,
            FailureDomainParams,
            _facts("failure-domain count"),
        ),
        stack_policy(
            "service-redundancy",
            "Each service runs at least two pods, and each volume group it declares at least two replicas, "
            "so that losing one host or one failure domain does not take it down.",
            [INSTANCE, VOLUME],
            lambda rs, p: stack_rules.service_redundancy(inventory.build(rs), p),
            mandatory,
            RedundancyParams,
        ),
        stack_policy(
            "service-subnets-disjoint",
            "No two service subnets overlap: they share the datacenter router, and an overlap breaks "
            "routing and mixes the services' traffic.",
            [SUBNET],
            lambda rs, _p: stack_rules.subnets_disjoint(rs),
            mandatory,
        ),
        stack_policy(
            "pod-anchor-server-groups",
            "The anchors of a service's pods are all in one hard anti-affinity server group of their own and "
            "the members in none; otherwise pods may share a host or cannot be moved.",
            [INSTANCE, SERVER_GROUP],
            _pod_groups,
            mandatory,
        ),
        stack_policy(
            "controller-pair-anti-affinity",
            "The controller pair is in one hard anti-affinity server group behind the load balancer VIP, "
            "so that losing one host never stops the API or the schedulers.",
            [INSTANCE, SERVER_GROUP, LOAD_BALANCER, PORT, LB_MEMBER, LB_MEMBERS],
            _controller_pair,
            mandatory,
            ControllerPairParams,
        ),
        stack_policy(
            "controller-ssh-host-keys",
            "The deploy logs in to each controller over SSH and runs the filter rollout there with sudo as "
            "root: each controller's SSH host key must be pinned (controllers.hosts[n].host_key in the "
            "stack config), or the connection trusts whatever answers at its address.",
            [CONTROLLER_PAIR, REMOTE_COMMAND],
            lambda rs, _p: stack_rules.controller_ssh_host_keys(rs),
            mandatory,
        ),
        stack_policy(
            "no-public-admin-exposure",
            "No admin or data port (SSH, RDP, VNC, etcd, Redis, Elasticsearch, Cassandra, memcached, "
            "databases, OpenStack APIs) of an instance is reachable from more public address space than "
            "the threshold, counted as the union of every rule of every group on it, IPv4 and IPv6; and no "
            "rule admits every protocol or every port from outside the internal ranges.",
            [INSTANCE, PORT, SEC_GROUP, SEC_GROUP_RULE],
            _exposure,
            mandatory,
            exposure.ExposureParams,
        ),
        stack_policy(
            "pods-fit-host-inventory",
            "A service cannot have more pods than the datacenter has compute hosts: its pods must never "
            "share a host, so the extra pods could never be scheduled.",
            [INSTANCE],
            lambda rs, p: stack_rules.pods_fit_inventory(inventory.build(rs), p),
            mandatory,
            InventoryParams,
            _facts("host count"),
        ),
        stack_policy(
            "cross-datacenter-same-shape",
            "A service deployed in several datacenters has the same pods, roles and volume groups in each, "
            "unless the catalog restricts where it runs: a failover must find the same capacity.",
            [INSTANCE, VOLUME],
            lambda rs, p: stack_rules.same_shape_across_datacenters(inventory.build(rs), p),
            mandatory,
            CrossDatacenterParams,
            _facts("shapes of the other datacenters"),
        ),
        stack_policy(
            "release-waves-health-gated",
            "A release changes a service's pods in waves of at most rollout.max_unavailable, each wave only "
            "after the previous wave's health gate saw every one of its instances serve, so that the "
            "service keeps serving through every release.",
            [INSTANCE, LOCAL_COMMAND],
            _release_waves,
            mandatory,
            ReleaseParams,
        ),
        stack_policy(
            "release-judged-by-users",
            "A release wave should be judged by what users feel (its error ratio, its latency, from the "
            "datacenter's Prometheus), not only by whether its instances accept a TCP connection: a "
            "release that fails its calls passes every connect and reaches every pod. Judged for the "
            "services this change releases (config releasedServices, derived from the old side).",
            [LOCAL_COMMAND],
            lambda rs, p: analysis_rules.weakly_judged(_gate_analyses(rs), p.services),
            advisory,
            ReleasedParams,
            "which services this change releases is not in policy config (the pack sees no deployed "
            "state); write it with `python -m webex_cloud policy --stack <stack> --base <base plan> "
            "--write-config <file>` (or --state URL / --checkpoint FILE instead of --base)",
        ),
        stack_policy(
            "release-analysis-can-judge",
            "A release analysis whose queries read no series of the wave's pods, judge latency without a "
            "percentile, or bake shorter than a few scrapes can only say 'cannot judge' (every release "
            "stops and rolls back) or pass on no evidence: it is refused before it ships.",
            [LOCAL_COMMAND],
            lambda rs, p: analysis_rules.unable_to_judge(_gate_analyses(rs), p),
            mandatory,
            AnalysisParams,
        ),
    ]


def _gate_analyses(resources: list[Resource]) -> list[tuple[str, analysis_rules.GateAnalysis]]:
    return [(r.urn, gate) for r in resources if (gate := analysis_rules.read_gate(r.props.get("create")))]


def _release_waves(resources: list[Resource], params: ReleaseParams) -> list[stack_rules.Violation]:
    commands = [r for r in resources if r.type == LOCAL_COMMAND]
    return stack_rules.release_waves_gated(inventory.build(resources), commands, params)


def _pod_groups(resources: list[Resource], _params: None) -> list[stack_rules.Violation]:
    groups = [r for r in resources if r.type == SERVER_GROUP]
    return stack_rules.pod_anchor_groups(inventory.build(resources), groups)


def _controller_pair(resources: list[Resource], params: ControllerPairParams) -> list[stack_rules.Violation]:
    view = inventory.build(resources, params.controller_roles)
    groups = [r for r in resources if r.type == SERVER_GROUP]
    frontends = [r for r in resources if r.type in (LOAD_BALANCER, PORT, LB_MEMBER, LB_MEMBERS)]
    return stack_rules.controller_pair(view, groups, frontends, params)


def _exposure(resources: list[Resource], params: exposure.ExposureParams) -> list[stack_rules.Violation]:
    return [(finding.message, finding.urn) for finding in exposure.judge(resources, params)]
