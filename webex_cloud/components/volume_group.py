"""Replicas of one volume, each in a different storage failure domain."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_openstack as openstack
from webex_scheduler_filters import hints

from webex_cloud import naming
from webex_cloud.plan import format as tokens
from webex_cloud.tags import ownership_metadata


@dataclass(frozen=True)
class VolumeGroupArgs:
    service: str
    """Catalog name of the service."""
    owner: str
    """Owning team."""
    datacenter: str
    """Datacenter (stack) name."""
    group: str
    """Volume group name, unique within the service."""
    size_gb: int
    """Size of each replica in GiB."""
    volume_type: str
    """Cinder volume type."""
    replicas: int
    """Number of replicas; each lands in its own failure domain."""
    attach_to: Sequence[pulumi.Input[str]] = ()
    """Instance IDs that replica N is attached to (empty: not attached)."""


class VolumeGroup(pulumi.ComponentResource):
    """Protected replica volumes carrying the diversity hints, and their attachments."""

    volume_ids: pulumi.Output[list[str]]
    volumes: list[openstack.blockstorage.Volume]

    def __init__(self, name: str, args: VolumeGroupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(tokens.VOLUME_GROUP, name, None, opts)
        key = f"{args.datacenter}/{args.service}/{args.group}"
        self.volumes = []
        self.attachments: list[openstack.compute.VolumeAttach] = []
        previous: openstack.blockstorage.Volume | None = None
        for replica in range(args.replicas):
            volume_name = naming.replica(name, replica)
            volume = openstack.blockstorage.Volume(
                volume_name,
                name=naming.cloud_name(args.datacenter, volume_name),
                size=args.size_gb,
                # Attached replicas can only grow online; without this the provider refuses.
                enable_online_resize=True,
                volume_type=args.volume_type,
                metadata={
                    **ownership_metadata(args.service, args.owner, args.datacenter),
                    hints.VOLUME_GROUP_METADATA_KEY: key,
                    hints.REPLICA_METADATA_KEY: str(replica),
                },
                scheduler_hints=[
                    openstack.blockstorage.VolumeSchedulerHintArgs(
                        # One value: the provider's set hash ranges over this map (see hints.py).
                        additional_properties={hints.CINDER_VOLUME_GROUP_HINT: key}
                    )
                ],
                # Data lives here: deleting a replica must be a deliberate act, and replica N is
                # scheduled only once N-1 is placed so the filter sees where its siblings are.
                opts=pulumi.ResourceOptions(
                    parent=self, protect=True, depends_on=[previous] if previous is not None else None
                ),
            )
            if replica < len(args.attach_to):
                attachment = openstack.compute.VolumeAttach(
                    f"{name}-{replica}-attach",
                    instance_id=args.attach_to[replica],
                    volume_id=volume.id,
                    # A replaced server must get the volume back; it cannot be attached twice.
                    opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
                )
                self.attachments.append(attachment)
            self.volumes.append(volume)
            previous = volume
        self.volume_ids = pulumi.Output.all(*[v.id for v in self.volumes]).apply(list)
        self.register_outputs({"volume_ids": self.volume_ids, "key": key})
