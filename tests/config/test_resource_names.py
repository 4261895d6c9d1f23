"""The loader's name-collision check compares the names the program really registers."""

from __future__ import annotations

from tests.conftest import REPO
from webex_cloud.config import loader
from webex_cloud.plan.document import render_plan


def test_every_name_the_collision_check_compares_is_registered_by_the_program() -> None:
    """dc1 runs every catalog service; a name the check makes up (a server group per pod) would
    never collide with anything, so a real collision of it would go unseen."""
    registered = {resource["name"] for resource in render_plan("dc1", project_dir=REPO)["resources"]}
    checked = {
        name for _, service in loader.load_catalog(REPO) for _, name in loader._resource_names(service)
    }
    assert checked and checked <= registered, sorted(checked - registered)
