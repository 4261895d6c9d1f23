"""Glance inside drift's report: the image each managed server runs, as Glance holds it now.

A server keeps running when its image changes in Glance, but what Nova does next with it does not:
an evacuation or a rebuild to a host without the image's data reads it from Glance again (nova
``compute/manager.py`` ``rebuild_instance``), so a deleted or deactivated image leaves the server
unable to move, and an image uploaded under the same name is what the next boot by that name gets. Per
distinct image the servers run, read once (``GET /v2/images/{id}``, hidden ones too, through
webex_cloud/cloud/images.py), and the name the checkpoint records (``imageName``, the provider's Read)
against the images listed under that name:

- ``image-deleted``: Glance has no image by that id any more, or no longer shows it to this project
  (it answers 404 to both; either way a rebuild or an evacuation of these servers cannot read it);
- ``image-deactivated``: the image is there but not active (``deactivated``: its data cannot be read);
- ``image-replaced``: the recorded name now lists only other active images (someone uploaded another
  image under it, and deleted or renamed the one the servers run).

`up` does nothing to any of them (the provider reads ``image_id`` from the server, not from Glance). They
warn: the deploy's own image check (`images --stack`, docs/images.md) blocks what the deploy boots.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from webex_cloud.cloud.errors import CloudError
from webex_cloud.cloud.images import GlanceImage
from webex_cloud.drift.findings import Drift, make
from webex_cloud.drift.live import Managed
from webex_cloud.plan.format import INSTANCE

ReadImage = Callable[[str], GlanceImage | None]


def _image_of(server: Mapping[str, Any]) -> str:
    image = server.get("image")
    return str(image.get("id") or "") if isinstance(image, Mapping) else ""


def image_drift(
    resources: Sequence[Managed],
    servers: Sequence[Mapping[str, Any]],
    listed: Sequence[GlanceImage],
    read_image: ReadImage,
) -> tuple[list[Drift], list[str]]:
    """The managed servers' images as Glance holds them; and what could not be read."""
    live = {str(s.get("id")): s for s in servers}
    known: dict[str, GlanceImage | None] = {}
    failed: set[str] = set()
    unread: list[str] = []
    found: list[Drift] = []
    for m in resources:
        server = live.get(m.id)
        if m.type != INSTANCE or server is None or not (image_id := _image_of(server)):
            continue  # deleted or volume-backed: the live comparison reports the first
        if image_id in failed:
            continue
        if image_id not in known:
            try:
                known[image_id] = read_image(image_id)
            except CloudError as error:
                failed.add(image_id)
                unread.append(f"image {image_id} of {m.outputs.get('name', m.id)} in Glance ({error})")
                continue
        image = known[image_id]
        name = str(m.outputs.get("name") or m.id)
        recorded_name = str(m.outputs.get("imageName") or "")
        if image is None:
            found.append(
                make("image-deleted", m.urn, name, m.id, "image", image_id, None,
                     f"{name} runs image {image_id}, which Glance no longer has (or no longer shows this "
                     "project): it cannot be evacuated or rebuilt from it",
                     fix="release the service onto a verified image (docs/images.md)")
            )  # fmt: skip
        elif image.status != "active":
            found.append(
                make("image-deactivated", m.urn, name, m.id, "image.status", "active", image.status,
                     f"{name} runs image {image.name or image_id} ({image_id}), which Glance holds as "
                     f"{image.status}: its data cannot be read for an evacuation or a rebuild",
                     fix=f"openstack image reactivate {image_id}, or release onto another verified image")
            )  # fmt: skip
        if recorded_name:
            same_name = [i for i in listed if i.name == recorded_name and i.status == "active"]
            if same_name and all(i.id != image_id for i in same_name):
                others = ", ".join(sorted(i.id for i in same_name))
                found.append(
                    make("image-replaced", m.urn, name, m.id, "imageName", image_id, others,
                         f"the name {recorded_name!r} {name} was booted from now lists {others}, not "
                         f"{image_id}: a boot by that name gets another image",
                         fix="find who uploaded it; `python -m webex_cloud images --stack` checks it")
                )  # fmt: skip
    return found, unread
