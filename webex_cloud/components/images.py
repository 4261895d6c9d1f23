"""The Glance images a datacenter stack registers: each imported by that datacenter's Glance itself.

Glance fetches the catalog's source (``web_download``: the multi-GB bytes never pass through the
runner) and the provider waits until the image is active (terraform-provider-openstack v3.4.0
``resource_openstack_images_image_v2.go`` :277-341; webex_cloud/facts/provider.py). Glance's import takes
no expected hash: ``python -m webex_cloud images --stack S`` compares Glance's own digest with the
catalog's after this step and before any pod changes (.github/workflows/deploy-stack.yml).

An image already in the datacenter (imported by hand, and verified) is *adopted* by its verified id
(Pulumi's ``import``): the engine reads it instead of creating it, and an import never replaces
(pulumi/pulumi v3.259.0 ``pkg/resource/deploy/step_generator.go``: "previously-imported resources that
still specify an ID may not be replaced"), so no image gets a new id and no pod is rebuilt. The inputs
the provider's Read never records (``IMAGE_UNREAD``) are ignored after creation, or the adopted image
would differ from its state at once (``image_source_url`` is ForceNew).

No image is ever deleted by Pulumi (``retain_on_delete``): dropped from the program, it leaves the state
and stays in Glance, where cleanup (``images --cleanup-after``) judges it by what boots it, live. An image
in use is protected by Glance's own flag (``protected``), not by Pulumi's ``protect`` option: the engine
refuses to drop a ``protect``ed resource before it looks at ``retainOnDelete`` (pulumi/pulumi v3.259.0
``pkg/resource/deploy/step.go`` ``DeleteStep.Apply``), and a rollback runs the program with the last
good catalog, which does not register the failed release's new image: the rollback's ``up`` would fail.
Pulumi's option would guard nothing more (Pulumi deletes no image, and an adopted one cannot be replaced).
"""

from __future__ import annotations

from collections.abc import Iterable

import pulumi
import pulumi_openstack as openstack

from webex_cloud.config.image_ids import RegisteredImage
from webex_cloud.facts.provider import IMAGE_UNREAD


def image_resource_name(stack: str, image: str) -> str:
    """The resource name of ``image`` in ``stack`` (the deploy targets them: deploy-stack.yml)."""
    return f"{stack}-image-{image}"


def register_images(
    stack: str, images: Iterable[RegisteredImage], opts: pulumi.ResourceOptions
) -> dict[str, openstack.images.Image]:
    """Image name -> its resource, for each image of ``images``; ``opts`` carries parent and provider."""
    registered: dict[str, openstack.images.Image] = {}
    for image in images:
        entry = image.entry
        registered[entry.name] = openstack.images.Image(
            image_resource_name(stack, entry.name),
            name=entry.name,
            image_source_url=entry.source,
            web_download=True,
            container_format=entry.container_format,
            disk_format=entry.disk_format,
            min_disk_gb=entry.min_disk_gb,
            min_ram_mb=entry.min_ram_mb,
            # Glance's own flag: `openstack image delete` (and cleanup, which skips protected images)
            # cannot remove an image a pod or a rollback boots.
            protected=image.in_use,
            visibility="private",
            properties=dict(entry.signature) or None,
            opts=pulumi.ResourceOptions.merge(
                opts,
                pulumi.ResourceOptions(
                    retain_on_delete=True,
                    import_=image.adopt,
                    ignore_changes=list(IMAGE_UNREAD),
                ),
            ),
        )
    return registered
