"""Pulumi resource names of pods, instances and replicas: one definition for the components, the loader
and the plan, on the ground floor (it imports nothing of the project), so config/ and plan/ need not
import the Pulumi components to know a name."""

from __future__ import annotations


def pod(service: str, index: int) -> str:
    return f"{service}-pod-{index}"


def server_group(service: str) -> str:
    """The service's ``anti-affinity`` group of pod anchors."""
    return f"{service}-pods"


def instance(pod_name: str, role: str, ordinal: int) -> str:
    return f"{pod_name}-{role}-{ordinal}"


def volume_group(service: str, group: str) -> str:
    return f"{service}-{group}"


def replica(volume_group_name: str, index: int) -> str:
    return f"{volume_group_name}-{index}"


def gate(service: str, wave: int) -> str:
    """The health gate of release wave ``wave`` (1-based) of a service."""
    return f"{service}-wave-{wave}-gate"


def cloud_name(datacenter: str, resource_name: str) -> str:
    """The name an instance or replica volume has in Nova or Cinder: what the live audit matches on."""
    return f"{datacenter}-{resource_name}"
