"""Ownership labels every resource carries, so operators, policies and the live audit can tell whose it is."""

from __future__ import annotations

from typing import Final

from webex_scheduler_filters import hints

# The Nova filter reads these on instances the first pod design booted: the hint contract owns them.
SERVICE_KEY: Final = hints.OWNERSHIP_SERVICE_METADATA_KEY
OWNER_KEY: Final = "owner"
DATACENTER_KEY: Final = hints.OWNERSHIP_DATACENTER_METADATA_KEY
OWNERSHIP_KEYS: Final = (SERVICE_KEY, OWNER_KEY, DATACENTER_KEY)
"""The keys that mark an instance or volume as the project's (``python -m webex_cloud audit`` reads them)."""
POD_KEY: Final = hints.OWNERSHIP_POD_METADATA_KEY
"""Instance metadata: the pod an instance belongs to."""
ROLE_KEY: Final = "role"
"""Instance metadata: the instance's role in its pod."""


def ownership_metadata(service: str, owner: str, datacenter: str) -> dict[str, str]:
    """Metadata for Nova instances and Cinder volumes."""
    return {SERVICE_KEY: service, OWNER_KEY: owner, DATACENTER_KEY: datacenter}


def ownership_tags(service: str, owner: str, datacenter: str) -> list[str]:
    """Neutron tags (Neutron has no key/value metadata, only string tags)."""
    return [f"{key}={value}" for key, value in ownership_metadata(service, owner, datacenter).items()]
