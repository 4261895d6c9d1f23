"""Cinder's fake volume driver, reporting the backend's own name and moving volumes between fake backends.

Debian's python3-cinder ships cinder.tests.fake_driver.FakeLoggingVolumeDriver, which stores nothing and
needs no storage, but reports ``volume_backend_name = 'fake'`` and pool ``fake`` for every backend, so
neither a volume type nor a test can tell the backends apart. This subclass reports the configured
``volume_backend_name`` (the config section's name if unset) as backend and pool name. The failure
domain comes from each backend's ``extra_capabilities``, which cinder-volume merges into every pool.

Migration. Without a driver-assisted ``migrate_volume`` (the inherited LVM one needs an LVM
``location_info``), Cinder 21 (Zed, ``cinder/volume/manager.py`` ``VolumeManager.migrate_volume``)
falls back to ``_migrate_volume_generic``: create the new volume on the destination, attach both
through os-brick and copy the bytes, which cannot work here (no storage, no iSCSI). This driver reports
``location_info`` naming itself and its backend, and ``migrate_volume`` accepts any destination that
reports a location of this driver: the fake stores nothing, so moving a volume is Cinder's own record
update (``host``, ``cluster_name``, ``availability_zone`` and, on a retype, ``volume_type_id``, written
by the manager when the driver returns ``moved``). The manager calls the driver only when the type
change needs nothing but another backend (``_can_use_driver_migration``: extra specs differing in
``volume_backend_name`` / ``RESKEY:availability_zones`` only, no QoS or encryption change); any other
retype still takes the generic copy and fails, as it would on a real backend without host copy.
Loaded by cinder-volume through PYTHONPATH (see lib.sh).
"""

from __future__ import annotations

from typing import Any

from cinder.tests.fake_driver import FakeLoggingVolumeDriver

#: The first field of ``location_info``: which driver can take a volume from another backend.
LOCATION_PREFIX = "LoopbackNamedFakeDriver"


class NamedFakeDriver(FakeLoggingVolumeDriver):  # type: ignore[misc]  # cinder is untyped
    def _update_volume_stats(self) -> None:
        super()._update_volume_stats()
        name = self.configuration.safe_get("volume_backend_name") or self.configuration.config_group
        self._stats["volume_backend_name"] = name
        for pool in self._stats["pools"]:
            pool["pool_name"] = name
            # Per pool: the scheduler hands the driver the destination pool's capabilities, and
            # copies no backend-level key but a few named ones into them (scheduler/host_manager.py
            # ``_append_backend_info``).
            pool["location_info"] = f"{LOCATION_PREFIX}:{self.host}"

    def migrate_volume(self, context: Any, volume: Any, host: dict[str, Any]) -> tuple[bool, None]:
        """Move ``volume`` to ``host`` (``{'host': 'storage-b@b3#b3', 'capabilities': {...}}``) if that
        backend runs this driver. An attached volume is left to Cinder's generic path, which asks Nova
        to swap it: a moved record under a live attachment would leave the instance on the old export."""
        location = str(host.get("capabilities", {}).get("location_info", ""))
        if volume.attach_status == "attached" or not location.startswith(f"{LOCATION_PREFIX}:"):
            return False, None
        return True, None
