"""Ownership labels every resource carries, so operators and policies can tell whose it is."""

from __future__ import annotations


def ownership_metadata(service: str, owner: str, datacenter: str) -> dict[str, str]:
    """Metadata for Nova instances and Cinder volumes."""
    return {"service": service, "owner": owner, "datacenter": datacenter}


def ownership_tags(service: str, owner: str, datacenter: str) -> list[str]:
    """Neutron tags (Neutron has no key/value metadata, only string tags)."""
    return [f"{key}={value}" for key, value in ownership_metadata(service, owner, datacenter).items()]
