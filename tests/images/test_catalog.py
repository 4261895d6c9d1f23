"""The image catalog: every image pinned by its bytes, sources only on artifact hosts, every problem
named by file, field and fix; a name kept for other bytes is caught against the base catalog."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import REPO, ProjectCopy
from tests.images.helpers import catalog_document, entry
from webex_cloud.config.errors import CatalogError
from webex_cloud.config.image_catalog import (
    IMAGE_CATALOG,
    load_catalog,
    parse_catalog,
    rollback_chain,
)
from webex_cloud.config.loader import load_deployment
from webex_cloud.exit_codes import ExitCode
from webex_cloud.images.changes import image_changes, imports_per_datacenter, to_text
from webex_cloud.images.usage import load_stack_images
from webex_cloud.paths import known_stacks

MANAGEMENT = [ipaddress.IPv4Network("10.250.1.0/24")]


def problems(document: Any) -> list[str]:
    with pytest.raises(CatalogError) as refused:
        parse_catalog(document, IMAGE_CATALOG, MANAGEMENT)
    return [str(p) for p in refused.value.problems]


def test_the_checkout_pins_every_image_each_stack_offers_or_boots() -> None:
    stacks = [load_stack_images(REPO, stack) for stack in known_stacks(REPO)]
    catalog = load_catalog(REPO, [s.management for s in stacks])
    used = {name for s in stacks for name in s.used}
    assert used and used <= set(catalog.names)
    # every image in use has a rollback image in the catalog
    assert set(rollback_chain(catalog, used)) == used


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"sha256": "abc123"}, "images[0].sha256", "64 lowercase hex"),
        ({"sha256": "G" * 64}, "images[0].sha256", "not a sha256 digest"),
        ({"digests": {"sha512": "0" * 127}}, "images[0].digests.sha512", "128 lowercase hex"),
        ({"digests": {"md5": "0" * 32}}, "images[0].digests.md5", "unknown algorithm"),
        ({"source": "ftp://artifacts.webex.example/x.qcow2"}, "images[0].source", "use http or https"),
        ({"source": "file:///srv/x.qcow2"}, "images[0].source", "scheme 'file'"),
        ({"source": "https://evil.example/x.qcow2"}, "images[0].source", "not in artifact_hosts"),
        ({"source": "http://169.254.169.254/latest"}, "images[0].source", "link-local"),
        ({"source": "http://[fe80::1]/x"}, "images[0].source", "link-local"),
        ({"source": "http://10.250.1.10/x.qcow2"}, "images[0].source", "management network 10.250.1.0/24"),
        ({"source": "https://u:p@artifacts.webex.example/x"}, "images[0].source", "carries credentials"),
        ({"disk_format": "qcow3"}, "images[0].disk_format", "not a Glance disk format"),
        ({"container_format": "zip"}, "images[0].container_format", "not a Glance container format"),
        ({"min_disk_gb": -1}, "images[0].min_disk_gb", "whole number"),
        ({"min_ram_mb": True}, "images[0].min_ram_mb", "whole number"),
        ({"previous": "webex-base-2026.01"}, "images[0].previous", "not in the catalog"),
        (
            {"signature": {"img_signature_key_type": "RSA-PSS"}},
            "images[0].signature",
            "img_signature is required",
        ),
        ({"sha265": "0" * 64}, "images[0].sha265", "unknown key"),
    ],
)
def test_a_bad_entry_is_refused_naming_file_field_and_fix(
    change: dict[str, Any], field: str, words: str
) -> None:
    found = problems(catalog_document(entry("webex-base-2026.11", **change)))
    assert any(p.startswith(f"{IMAGE_CATALOG}: {field}: ") and words in p for p in found), found


def test_a_metadata_or_link_local_host_is_refused_even_when_allowlisted() -> None:
    document = catalog_document(
        entry("webex-base-2026.11", source="http://169.254.169.254/x.qcow2"), hosts=("169.254.169.254",)
    )
    assert any("link-local" in p for p in problems(document))


def test_a_loopback_artifact_host_is_accepted_when_allowlisted() -> None:
    document = catalog_document(
        entry("webex-base-2026.11", source="http://127.0.0.1:8080/x.qcow2"), hosts=("127.0.0.1",)
    )
    assert parse_catalog(document, IMAGE_CATALOG, MANAGEMENT).names == ["webex-base-2026.11"]


def test_one_entry_per_name_and_every_problem_at_once() -> None:
    found = problems(
        catalog_document(
            entry("webex-base-2026.11"), entry("webex-base-2026.11", sha256="x", disk_format="y")
        )
    )
    assert any("images[1].name" in p and "already images[0]" in p for p in found)
    assert any("images[1].sha256" in p for p in found) and any("images[1].disk_format" in p for p in found)


def test_catalog_changes_name_each_image_its_size_and_where_it_runs() -> None:
    stacks = [load_stack_images(REPO, stack) for stack in known_stacks(REPO)]
    base = parse_catalog(catalog_document(entry("webex-base-2026.11"), entry("webex-base-2026.09")))
    head = parse_catalog(
        catalog_document(
            entry("webex-base-2026.11", sha256="1" * 64),
            entry("webex-media-2026.11", size_bytes=3 * 2**30),
        )
    )
    changes = {c.name: c for c in image_changes(base, head, stacks)}
    assert {n: (c.kind, c.blocking) for n, c in changes.items()} == {
        "webex-base-2026.11": ("other bytes", True),
        "webex-media-2026.11": ("added", False),
        "webex-base-2026.09": ("removed", False),
    }
    media = changes["webex-media-2026.11"]
    assert media.size_bytes == 3 * 2**30
    # telepresence-gateway runs in dc1 only (datacenters: [dc1] in its catalog file)
    assert media.users == {"dc1": ("meetings-media", "telepresence-gateway"), "dc2": ("meetings-media",)}
    assert image_changes(head, head, stacks) == []
    # Each Glance imports what it boots of the added images; the name kept for other bytes imports
    # nothing (it is blocking), the removed image nothing either.
    imports = imports_per_datacenter(list(changes.values()))
    assert [(i.stack, i.images, i.size_bytes, i.unpinned) for i in imports] == [
        ("dc1", ("webex-media-2026.11",), 3 * 2**30, ()),
        ("dc2", ("webex-media-2026.11",), 3 * 2**30, ()),
    ]
    assert "each Glance imports: dc1 3.00 GiB (1 image); dc2 3.00 GiB (1 image)" in to_text(
        list(changes.values()), "base"
    )


def test_an_image_a_stack_offers_but_the_catalog_lacks_stops_the_plan_naming_file_field_and_fix(
    project: ProjectCopy,
) -> None:
    project.edit_datacenter("dc1", lambda dc: dc["images"].append("webex-base-2026.12"))
    with pytest.raises(CatalogError) as refused:
        load_deployment(project.root, "dc1")
    assert [str(p) for p in refused.value.problems] == [
        "stacks/Pulumi.dc1.yaml: config.webex-cloud:datacenter.images[3]: image 'webex-base-2026.12' is not "
        f"in {IMAGE_CATALOG}; add an entry for it there (name, source, sha256, formats, minimums: "
        "docs/images.md) or remove it here"
    ]
    # once pinned, the stack loads
    entries = project.load(IMAGE_CATALOG)
    entries["images"].append(entry("webex-base-2026.12", sha256="3" * 64))
    project.save(IMAGE_CATALOG, entries)
    assert load_deployment(project.root, "dc1").stack == "dc1"


def test_a_malformed_image_catalog_stops_the_plan(project: ProjectCopy) -> None:
    project.edit(IMAGE_CATALOG, lambda doc: doc["images"][0].update(source="ftp://artifacts.webex.example/x"))
    with pytest.raises(CatalogError) as refused:
        load_deployment(project.root, "dc2")
    assert any(p.file == IMAGE_CATALOG and p.field == "images[0].source" for p in refused.value.problems)


def test_the_plan_command_refuses_an_unpinned_image_with_exit_2(project: ProjectCopy) -> None:
    project.edit_datacenter("dc1", lambda dc: dc["images"].append("webex-base-2026.12"))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "webex_cloud",
            "plan",
            "--stack",
            "dc1",
            "--project",
            str(project.root),
            "--out",
            str(project.root / "out"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == ExitCode.INPUT, done.stdout + done.stderr
    assert (
        "config.webex-cloud:datacenter.images[3]: image 'webex-base-2026.12' is not in"
        in done.stdout + done.stderr
    )
    assert "Traceback" not in done.stderr and not (project.root / "out" / "dc1.json").exists()
