"""The loopback's compute driver: Nova's fake driver, reporting the free disk it claims to have.

Zed's ``nova.virt.fake.FakeDriver`` reports 600000 GB of ``local_gb`` but ``disk_available_least = 0``
(nova/virt/fake.py ``host_status_base``). The scheduler's ``HostState`` takes the smaller of that and the
database's free disk (nova/scheduler/host_manager.py ``_update_from_compute_node``), so every fake host
looked full to a filter that reads free disk as Nova's own DiskFilter did: the project's PodFilter refused
every host for an anchor whose pod needs disk (a drain's live migration ended in "No valid host").
A real hypervisor reports its free disk there. The fake writes nothing, so what it has not claimed for
its instances is free.

It also leaves a server's ports unbound. No Neutron agent runs here, so ML2 (``mechanism_drivers =
openvswitch``, no OVS agent alive on any host) answers every port bound to a host with ``binding:vif_type
= binding_failed``, and Nova refuses the boot (nova/network/neutron.py ``_ensure_no_port_binding_failure``).
A driver that returns no host from ``network_binding_host_id`` gets its ports attached unbound (Nova
sends ``binding:host_id: null``: nova/compute/manager.py ``_build_networks_for_instance``, the hook
Ironic's driver uses for the same reason). Nova then records the port's fixed IPs in the server's
network info cache, so ``GET /servers/detail`` shows them under ``addresses`` as for a real server:
what the monitoring's OpenStack discovery reads (tests/integration/test_monitoring_end_to_end.py).
"""

from __future__ import annotations

from typing import Any

from nova.virt import fake


class LoopbackFakeDriver(fake.FakeDriver):  # type: ignore[misc]
    """The fake driver with ``disk_available_least`` = its disk less what its instances claimed, whose
    servers' ports stay unbound."""

    def network_binding_host_id(self, context: Any, instance: Any) -> None:
        return None

    def get_available_resource(self, nodename: str) -> dict[str, Any]:
        resources: dict[str, Any] = super().get_available_resource(nodename)
        if resources:
            resources["disk_available_least"] = resources["local_gb"] - resources["local_gb_used"]
        return resources
