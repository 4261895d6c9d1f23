"""docs/catalog.md is the models' own field documentation, and stays so."""

from __future__ import annotations

from webex_cloud.config.models import Datacenter
from webex_cloud.config.reference import PAGE, render_reference


def test_the_catalog_reference_page_is_generated_from_the_models() -> None:
    assert PAGE.read_text(encoding="utf-8") == render_reference(), (
        "docs/catalog.md is stale: run `python -m webex_cloud.config.reference`"
    )


def test_every_datacenter_field_is_on_the_page_with_its_own_docstring() -> None:
    page = render_reference()
    for name in Datacenter.model_fields:
        assert f"| `{name}` |" in page
    # Each docstring documents the field above it (cidr_pool's once sat under `subnets`, unread).
    assert " ".join((Datacenter.model_fields["cidr_pool"].description or "").split()) == (
        "Block from which every service subnet is allocated; must not overlap another datacenter's. Private "
        "address space (RFC 1918 or RFC 6598): every other datacenter's ``peer-dc`` rules admit this pool."
    )
    assert (Datacenter.model_fields["subnets"].description or "").startswith("Subnets pinned per service")
