"""The plan document's one owner (docs/plan-format.md): its format id, its typed model, its reader.

``python -m webex_cloud plan`` writes the document through :class:`Plan`; the placement proof, the
preview report and the policy harness read it only through :func:`read_plan` / :func:`parse_plan`.
The facts every reader shares live here too: the type tokens the components register and the
readers filter on, and the Pulumi wire markers the recorder turns into the plan's ``[secret]`` and
``[unknown]``. A renamed field or token is then an import or validation error, not a silent drift
(the pattern of ``webex_scheduler_filters.hints`` for the scheduler contract).

Only pydantic and the standard library: every tool reads plans, none should pull Pulumi in for it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from webex_cloud.config.errors import field_path
from webex_cloud.input_files import MAX_DOCUMENT_BYTES, InputFileError, read_bounded
from webex_cloud.paths import PROJECT

FORMAT: Final = "webex-cloud.plan/v1"
"""The ``format`` field of every plan; a reader refuses any other value."""

DOC: Final = "docs/plan-format.md"

# Resource type tokens, as pulumi-openstack registers them (the Python SDK class -> token table in
# pulumi_openstack/_utilities, e.g. ``openstack.compute.Instance`` -> this string).
STACK: Final = "pulumi:pulumi:Stack"
INSTANCE: Final = "openstack:compute/instance:Instance"
SERVER_GROUP: Final = "openstack:compute/serverGroup:ServerGroup"
VOLUME_ATTACH: Final = "openstack:compute/volumeAttach:VolumeAttach"
VOLUME: Final = "openstack:blockstorage/volume:Volume"
NETWORK: Final = "openstack:networking/network:Network"
SUBNET: Final = "openstack:networking/subnet:Subnet"
ROUTER: Final = "openstack:networking/router:Router"
ROUTER_INTERFACE: Final = "openstack:networking/routerInterface:RouterInterface"
PORT: Final = "openstack:networking/port:Port"
SEC_GROUP: Final = "openstack:networking/secGroup:SecGroup"
SEC_GROUP_RULE: Final = "openstack:networking/secGroupRule:SecGroupRule"
LOAD_BALANCER: Final = "openstack:loadbalancer/loadBalancer:LoadBalancer"
LB_LISTENER: Final = "openstack:loadbalancer/listener:Listener"
LB_POOL: Final = "openstack:loadbalancer/pool:Pool"
LB_MONITOR: Final = "openstack:loadbalancer/monitor:Monitor"
LB_MEMBER: Final = "openstack:loadbalancer/member:Member"
LB_MEMBERS: Final = "openstack:loadbalancer/members:Members"
REMOTE_COMMAND: Final = "command:remote:Command"
"""pulumi-command's remote command (the controllers' filter rollout)."""
COPY_TO_REMOTE: Final = "command:remote:CopyToRemote"
"""pulumi-command's file copy to a controller (the release files and the deploy profile)."""
LOCAL_COMMAND: Final = "command:local:Command"
"""pulumi-command's local command (a release wave's health gate, webex_cloud/release/rollout.py)."""

PROGRAM_TYPES: Final = frozenset(
    {
        INSTANCE,
        SERVER_GROUP,
        VOLUME_ATTACH,
        VOLUME,
        NETWORK,
        SUBNET,
        ROUTER,
        ROUTER_INTERFACE,
        PORT,
        SEC_GROUP,
        SEC_GROUP_RULE,
        LOAD_BALANCER,
        LB_LISTENER,
        LB_POOL,
        LB_MONITOR,
        LB_MEMBER,
        LB_MEMBERS,
        REMOTE_COMMAND,
        COPY_TO_REMOTE,
        LOCAL_COMMAND,
    }
)
"""Every custom resource type the program registers (the preview's risk rules know each of them)."""

# Our component tokens (``webex:<module>:<Type>``): a URN's type chain is made of these.
DATACENTER: Final = "webex:datacenter:Datacenter"
SERVICE: Final = "webex:service:Service"
SERVICE_NETWORK: Final = "webex:network:ServiceNetwork"
POD: Final = "webex:compute:Pod"
VOLUME_GROUP: Final = "webex:storage:VolumeGroup"
CONTROLLER_PAIR: Final = "webex:controller:ControllerPair"
MONITORING_PAIR: Final = "webex:monitoring:MonitoringPair"

# The Pulumi wire markers (pulumi/pulumi sdk/go/common/resource/plugin/rpc.go and
# sdk/go/common/resource/properties.go; the Python SDK's pulumi/runtime/rpc.py has the same values).
SIG_KEY: Final = "4dabf18193072939515e22adb298388d"
"""Key of the special-object signature (secrets, assets, archives, resource references)."""
SECRET_SIG: Final = "1b47061264138c4ac30d75fd1eb44270"
"""``{SIG_KEY: SECRET_SIG, "value": ...}`` is a secret value."""
UNKNOWN_STRING: Final = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
"""The sentinel of an unknown string (a computed id or address during a preview)."""

PLAN_SECRET: Final = "[secret]"
"""How the plan writes a secret: its value never reaches the document."""
PLAN_UNKNOWN: Final = "[unknown]"
"""How the plan writes a value the engine could not know."""


def clean_wire_value(value: Any) -> Any:
    """Wire form (a registration's inputs, a checkpoint's inputs) -> plan form.

    Secrets become ``[secret]`` and unknowns ``[unknown]``; whole floats become ints (protobuf
    numbers are doubles); keys starting with ``__`` (the bridge's ``__defaults`` bookkeeping in a
    checkpoint, pulumi-terraform-bridge v3.135.0 pkg/tfbridge/schema.go) are dropped. The recorder
    and the checkpoint reader both use it, so the offline diff never shows a change that is only
    the form of a value.
    """
    if isinstance(value, Mapping):
        if value.get(SIG_KEY) == SECRET_SIG:
            return PLAN_SECRET
        return {k: clean_wire_value(v) for k, v in value.items() if not k.startswith("__")}
    if isinstance(value, list):
        return [clean_wire_value(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value == UNKNOWN_STRING:
        return PLAN_UNKNOWN
    return value


class PlanError(ValueError):
    """A plan cannot be used; the message names the file, the field and what to do."""

    def __init__(self, source: str, message: str) -> None:
        self.source = source
        self.message = message
        super().__init__(f"{source}: {message}")


class _Part(BaseModel):
    # Readers take what they need and keep the rest: a field a newer writer adds is not an error,
    # and a read plan dumps back to the very document it came from.
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class PlanResource(_Part):
    """One RegisterResourceRequest the program made, with the URN and id the engine gave it."""

    urn: str = Field(min_length=1)
    type: str
    name: str
    id: str = ""
    custom: bool = False
    parent: str = ""
    provider: str = ""
    """``<provider urn>::<provider id>``, or empty for a component."""
    inputs: dict[str, Any] = Field(default_factory=dict)
    dependencies: list[str] = Field(default_factory=list)
    property_dependencies: dict[str, list[str]] = Field(default_factory=dict, alias="propertyDependencies")
    depends_on: list[str] = Field(default_factory=list, alias="dependsOn")
    """Explicit ``depends_on``: the dependencies that no input implies."""
    protect: bool = False
    delete_before_replace: bool = Field(default=False, alias="deleteBeforeReplace")
    delete_before_replace_defined: bool = Field(default=False, alias="deleteBeforeReplaceDefined")
    """The program set ``deleteBeforeReplace`` (to True or False), which overrides the provider's choice."""
    ignore_changes: list[str] = Field(default_factory=list, alias="ignoreChanges")
    replace_on_changes: list[str] = Field(default_factory=list, alias="replaceOnChanges")
    import_id: str = Field(default="", alias="importId")
    """The ``import`` option: the cloud object's id the engine adopts instead of creating one."""
    retain_on_delete: bool = Field(default=False, alias="retainOnDelete")
    """The ``retainOnDelete`` option: dropped from the program, it leaves the state, not the cloud."""


class PlanPod(_Part):
    name: str
    server_group: str
    """URN of the pod's server group."""
    instances: list[str]
    """URNs of the pod's instances, in creation order."""


class PlanVolumeGroup(_Part):
    name: str
    key: str = ""
    """``<stack>/<service>/<group>``: the label the Cinder filter groups replicas by."""
    replicas: list[str]
    """URNs of the replica volumes, in creation order."""


class PlanService(_Part):
    subnet: str = ""
    owner: str = ""
    datacenters: list[str] | None = None
    """The catalog's restriction (the datacenters the service runs in); ``None``: every one."""
    pods: list[PlanPod] = Field(default_factory=list)
    volume_groups: list[PlanVolumeGroup] = Field(default_factory=list)
    max_unavailable: int = 1
    """The catalog's ``rollout.max_unavailable``: pods a release may change at once."""


class PlanFlavor(_Part):
    vcpus: int = 0
    ram_mb: int = 0
    disk_gb: int = 0


class PlanHost(_Part):
    name: str
    vcpus: int
    ram_mb: int
    availability_zone: str
    disk_gb: int = 0
    cpu_allocation_ratio: float = 1.0
    ram_allocation_ratio: float = 1.0
    disk_allocation_ratio: float = 1.0
    reserved_host_memory_mb: int = 0


class PlanPlacement(_Part):
    n_plus_one: bool = True
    """Re-placement after any single host or failure-domain loss is required (the stack's setting)."""


class PlanControllerHost(_Part):
    name: str
    address: str


class PlanControllers(_Part):
    vip: str | None = None
    hosts: list[PlanControllerHost] = Field(default_factory=list)


class PlanDatacenter(_Part):
    """The validated stack config (webex_cloud.config.models.Datacenter), JSON-dumped."""

    name: str
    images: list[str] = Field(default_factory=list)
    flavors: dict[str, PlanFlavor] = Field(default_factory=dict)
    volume_types: list[str] = Field(default_factory=list)
    failure_domains: dict[str, list[str]] = Field(default_factory=dict)
    """Failure domain -> the Cinder backends (``host@backend``) in it."""
    hosts: list[PlanHost] = Field(default_factory=list)
    placement: PlanPlacement = Field(default_factory=PlanPlacement)
    controllers: PlanControllers | None = None


class Plan(_Part):
    """The whole document: what the catalog asked for in one datacenter, and every registration."""

    format: str
    project: str
    stack: str
    datacenter: PlanDatacenter
    services: dict[str, PlanService]
    image_ids: dict[str, str] = Field(default_factory=dict)
    """Image name -> the id its instances boot: verified in the datacenter, or a stand-in of the catalog
    pin when no verification record was named (webex_cloud/config/image_ids.py)."""
    resources: list[PlanResource]
    """Sorted by URN."""

    def to_json(self) -> dict[str, Any]:
        """The document as JSON data: exactly the fields it was built or read with."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)

    def by_urn(self) -> dict[str, PlanResource]:
        return {resource.urn: resource for resource in self.resources}


_KINDS: Final = {
    "dict_type": "dict",
    "model_type": "dict",
    "model_attributes_type": "dict",
    "list_type": "list",
    "string_type": "str",
    "int_type": "int",
    "int_parsing": "int",
    "bool_type": "bool",
    "bool_parsing": "bool",
}


def _problem(error: Mapping[str, Any]) -> str:
    where = field_path(tuple(error["loc"])) or "the document"
    kind = _KINDS.get(str(error["type"]))
    if kind is not None:
        return f"{where} must be a {kind}, got {type(error['input']).__name__}"
    if error["type"] == "missing":
        return f"{where} is missing"
    return f"{where}: {error['msg']}"


def parse_plan(document: Any, *, source: str) -> Plan:
    """Validate a plan document (already parsed JSON); ``source`` names it in errors."""
    if isinstance(document, Mapping) and "format" in document and document["format"] != FORMAT:
        raise PlanError(source, f"format is {document['format']!r}, expected {FORMAT!r} ({DOC})")
    try:
        plan = Plan.model_validate(document)
    except ValidationError as error:
        problems = error.errors()
        listing = "; ".join(_problem(p) for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise PlanError(
            source,
            f"not the expected shape: {listing}{more}; re-render the plan with "
            f"`python -m webex_cloud plan` (format: {DOC})",
        ) from None
    if plan.format != FORMAT:
        raise PlanError(source, f"format is {plan.format!r}, expected {FORMAT!r} ({DOC})")
    seen: set[str] = set()
    for resource in plan.resources:
        if resource.urn in seen:
            raise PlanError(source, f"resource {resource.urn} appears twice")
        seen.add(resource.urn)
    return plan


def read_plan(path: Path, *, source: str | None = None) -> Plan:
    """Read and validate a plan file written by ``python -m webex_cloud plan``.

    ``source`` is how errors name the file (default: the path as given).
    """
    shown = source or str(path)
    try:
        text = read_bounded(path, MAX_DOCUMENT_BYTES).decode("utf-8")
    except InputFileError as error:
        raise PlanError(shown, f"cannot read plan: the file {error}") from None
    except FileNotFoundError:
        raise PlanError(
            shown,
            "cannot read plan: no such plan; render it with "
            f"`python -m webex_cloud plan --stack {path.stem}`",
        ) from None
    except OSError as error:
        raise PlanError(shown, f"cannot read plan: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise PlanError(shown, f"not a plan (not UTF-8 text: {error.reason})") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise PlanError(
            shown,
            f"not a plan (invalid JSON: {error.msg} at line {error.lineno}, column {error.colno}); "
            "re-render it with `python -m webex_cloud plan`",
        ) from None
    return parse_plan(document, source=shown)


def empty_plan(stack: str, project: str = PROJECT) -> Plan:
    """The plan of a stack that has nothing yet (a base branch without the stack or the command)."""
    return Plan(
        format=FORMAT,
        project=project,
        stack=stack,
        datacenter=PlanDatacenter(name=stack),
        services={},
        resources=[],
    )


def dumps(plan: Plan | Mapping[str, Any]) -> str:
    """Canonical JSON: two renders of the same input are byte-identical."""
    document = plan.to_json() if isinstance(plan, Plan) else dict(plan)
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
