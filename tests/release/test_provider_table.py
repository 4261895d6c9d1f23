"""The disruption table is tied to the provider version it was read at (terraform-provider-openstack)."""

from __future__ import annotations

import json
import re
from importlib import resources

from tests.conftest import REPO
from webex_cloud.facts.provider import PROVIDER, Disruption, disruption, forces_replacement

INSTANCE = "openstack:compute/instance:Instance"
VOLUME = "openstack:blockstorage/volume:Volume"


def test_requirements_pin_a_provider_the_table_was_read_for() -> None:
    text = (REPO / "requirements.txt").read_text()
    pinned = re.search(rf"^{re.escape(PROVIDER.package)}==(\S+)$", text, re.M)
    assert pinned is not None, f"requirements.txt must pin {PROVIDER.package} exactly"
    assert pinned.group(1) in PROVIDER.read_for, (
        f"{PROVIDER.package}=={pinned.group(1)} is not a version webex_cloud/facts/provider.py was read "
        f"for ({sorted(PROVIDER.read_for)}, bridging terraform-provider-openstack {PROVIDER.upstream}): "
        "re-read the provider's schemas at the version its provider/go.mod pins and update the table"
    )


def test_installed_provider_sdk_is_one_the_table_was_read_for() -> None:
    plugin = json.loads(resources.files("pulumi_openstack").joinpath("pulumi-plugin.json").read_text())
    assert plugin["version"] in PROVIDER.read_for


def test_image_change_rebuilds_in_place_at_v3_4_0() -> None:
    # resource_openstack_compute_instance_v2.go v3.4.0 :63-72 (not ForceNew), :1094-1140 servers.Rebuild
    assert not forces_replacement(INSTANCE, "imageName", frozenset())
    assert disruption(INSTANCE, "imageName") is Disruption.REBUILD
    assert disruption(INSTANCE, "imageId") is Disruption.REBUILD


def test_flavor_change_resizes_and_volume_type_retypes() -> None:
    assert disruption(INSTANCE, "flavorName") is Disruption.RESIZE
    assert disruption(VOLUME, "volumeType") is Disruption.RETYPE
    assert not forces_replacement(VOLUME, "volumeType", frozenset())


def test_metadata_edit_keeps_running_but_a_replace_on_changes_path_replaces() -> None:
    assert disruption(INSTANCE, "metadata.owner") is None
    option = frozenset({"metadata.webex_pod_generation"})
    assert forces_replacement(INSTANCE, "metadata.webex_pod_generation", option)
    assert not forces_replacement(INSTANCE, "metadata.owner", option)
