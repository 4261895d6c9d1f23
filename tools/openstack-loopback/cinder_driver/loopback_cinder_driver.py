"""Cinder's fake volume driver, reporting the backend's own name.

Debian's python3-cinder ships cinder.tests.fake_driver.FakeLoggingVolumeDriver, which stores nothing and
needs no storage, but reports ``volume_backend_name = 'fake'`` and pool ``fake`` for every backend, so
neither a volume type nor a test can tell the backends apart. This subclass reports the configured
``volume_backend_name`` (the config section's name if unset) as backend and pool name. The failure
domain comes from each backend's ``extra_capabilities``, which cinder-volume merges into every pool.
Loaded by cinder-volume through PYTHONPATH (see lib.sh).
"""

from __future__ import annotations

from cinder.tests.fake_driver import FakeLoggingVolumeDriver


class NamedFakeDriver(FakeLoggingVolumeDriver):  # type: ignore[misc]  # cinder is untyped
    def _update_volume_stats(self) -> None:
        super()._update_volume_stats()
        name = self.configuration.safe_get("volume_backend_name") or self.configuration.config_group
        self._stats["volume_backend_name"] = name
        for pool in self._stats["pools"]:
            pool["pool_name"] = name
