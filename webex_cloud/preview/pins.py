"""Every subnet a stack will deploy is pinned in its stack file, or the pull request says what to add.

A new service's subnet is allocated from the pool (webex_cloud.config.addressing), and allocation
cannot promise that a later catalog change never moves it: a deployed subnet must be pinned under
``webex-cloud:datacenter.subnets`` in ``stacks/Pulumi.<stack>.yaml``. This check reads the plan's
subnets and the stack file's pins and names the exact lines that are missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from webex_cloud.paths import PROJECT
from webex_cloud.plan.format import SUBNET
from webex_cloud.preview.errors import PreviewInputError
from webex_cloud.preview.markdown import code
from webex_cloud.preview.plans import Snapshot
from webex_cloud.preview.risks import Level, Risk
from webex_cloud.preview.topology import topology_from_snapshot

DATACENTER_KEY = f"{PROJECT}:datacenter"


def _pins(stack_file: Path) -> tuple[dict[str, str], str]:
    """The pins, and the indentation of an entry under ``subnets:`` (for lines that paste as is)."""
    try:
        text = stack_file.read_text(encoding="utf-8")
        document: Any = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise PreviewInputError(str(stack_file), f"cannot read the stack file: {error}") from None
    datacenter = (document or {}).get("config", {}).get(DATACENTER_KEY) or {}
    pins = datacenter.get("subnets") or {}
    lines = text.splitlines()
    indent = "      "
    for number, line in enumerate(lines):
        if line.strip() == "subnets:":
            following = next((item for item in lines[number + 1 :] if item.strip()), "")
            head = len(line) - len(line.lstrip())
            deeper = len(following) - len(following.lstrip())
            indent = " " * (deeper if deeper > head else head + 2)
            break
    return {str(k): str(v) for k, v in pins.items()}, indent


def unpinned(plan: Snapshot, stack_file: Path) -> list[Risk]:
    """One blocking risk per stack file that lacks pins for subnets this plan deploys."""
    pins, indent = _pins(stack_file)
    topology = topology_from_snapshot(plan)
    missing: list[tuple[str, str, str]] = []
    for resource in plan.resources.values():
        if resource.type != SUBNET:
            continue
        service = topology.service_of(resource.urn)
        cidr = resource.inputs.get("cidr")
        if service is None or not isinstance(cidr, str) or pins.get(service) == cidr:
            continue
        missing.append((service, cidr, resource.urn))
    if not missing:
        return []
    missing.sort()
    lines = "\n".join(f"{indent}{service}: {cidr}" for service, cidr, _ in missing)
    return [
        Risk(
            Level.BLOCKING,
            "unpinned-subnet",
            f"{code(str(stack_file.name))}",
            f"{len(missing)} subnet(s) this stack will deploy are not pinned, so a later catalog "
            f"change could move them; add under `{DATACENTER_KEY}` → `subnets:` in "
            f"stacks/{stack_file.name}:\n```yaml\n{lines}\n```",
            tuple(urn for _, _, urn in missing),
        )
    ]
