"""docs/operator-first-deployment.md works as written: its clouds.yaml block, with this cloud's values in
the places it names, authenticates against the loopback's real Keystone through openstacksdk, under the
cloud name the stack file gives `openstack:cloud`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import openstack
import yaml
from openstack.config import loader

from tests.conftest import REPO
from tests.integration.conftest import CLOUD, CLOUDS_YAML

PAGE = REPO / "docs" / "operator-first-deployment.md"


def _documented_clouds_yaml() -> dict[str, Any]:
    section = PAGE.read_text(encoding="utf-8").split("## 4. clouds.yaml", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block is not None, "step 4 has no yaml block"
    document: dict[str, Any] = yaml.safe_load(block.group(1))
    return document


def test_the_documented_clouds_yaml_authenticates_against_keystone(tmp_path: Path) -> None:
    documented = _documented_clouds_yaml()
    stack = yaml.safe_load((REPO / "stacks" / "Pulumi.dc1.yaml").read_text())
    name = stack["config"]["openstack:cloud"]
    (entry,) = documented["clouds"].values()
    assert list(documented["clouds"]) == [name]  # the name the stack file uses
    real = yaml.safe_load(CLOUDS_YAML.read_text())["clouds"][CLOUD]
    # Only values are replaced, never keys: a key the page gets wrong would fail here.
    for key in entry["auth"]:
        entry["auth"][key] = real["auth"][key]
    entry["region_name"] = real["region_name"]
    written = tmp_path / "clouds.yaml"
    written.write_text(yaml.safe_dump(documented))
    region = loader.OpenStackConfig(config_files=[str(written)]).get_one(cloud=name)
    conn = openstack.connection.Connection(config=region)
    try:
        conn.authorize()
        # A scoped token: Keystone accepted the user, the project and both domains as the page names them.
        assert conn.current_project_id and conn.current_user_id
    finally:
        conn.close()
