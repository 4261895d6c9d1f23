"""The resource view every rule works on, and the type tokens the rules filter on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

INSTANCE: Final = "openstack:compute/instance:Instance"
SERVER_GROUP: Final = "openstack:compute/serverGroup:ServerGroup"
VOLUME: Final = "openstack:blockstorage/volume:Volume"
SEC_GROUP: Final = "openstack:networking/secGroup:SecGroup"
SEC_GROUP_RULE: Final = "openstack:networking/secGroupRule:SecGroupRule"
SUBNET: Final = "openstack:networking/subnet:Subnet"
PORT: Final = "openstack:networking/port:Port"
NETWORK: Final = "openstack:networking/network:Network"
LOAD_BALANCER: Final = "openstack:loadbalancer/loadBalancer:LoadBalancer"
LB_MEMBER: Final = "openstack:loadbalancer/member:Member"
LB_MEMBERS: Final = "openstack:loadbalancer/members:Members"
REMOTE_COMMAND: Final = "command:remote:Command"
LOCAL_COMMAND: Final = "command:local:Command"
"""A release wave's health gate (its ``create`` is the gate spec the probe runs)."""
CONTROLLER_PAIR: Final = "webex:controller:ControllerPair"
"""The controller pair component (webex_cloud/components/controller.py); its ``sshHosts`` lists each
controller's address and pinned SSH host key (empty when unset)."""


@dataclass(frozen=True)
class Resource:
    """One resource as a policy sees it: thawed properties (see :mod:`webex_policies.values`)."""

    type: str
    """Type token, e.g. ``openstack:compute/instance:Instance``."""
    urn: str
    name: str
    props: Mapping[str, Any]
    """Inputs for a resource policy, outputs for a stack policy; unknowns are ``UNKNOWN``."""
    protect: bool = False
    parent: str = ""
    """URN of the parent resource (empty for the stack's direct children)."""
    dependencies: tuple[str, ...] = ()
    property_dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Input name -> URNs that input was computed from (how a hint's server group id is traced)."""

    def label(self) -> str:
        """How messages name the resource: its logical name, which the operator sees in the preview."""
        return repr(self.name)
