"""Which clouds.yaml entry a command uses for a stack: the stack file's ``identities`` for its access."""

from __future__ import annotations

from pathlib import Path

from webex_cloud.cloud.access import Access
from webex_cloud.cloud.errors import CloudError
from webex_cloud.config.errors import CatalogError
from webex_cloud.config.loader import DATACENTER_KEY, parse_datacenter, read_stack_config
from webex_cloud.paths import PROJECT_DIR, stack_file


def stack_entry(stack: str, access: Access, project_dir: Path = PROJECT_DIR) -> str:
    """The clouds.yaml entry of ``stack``'s identity for ``access``. Raises CloudError naming the
    stack file's field to set."""
    try:
        datacenter = parse_datacenter(read_stack_config(project_dir, stack).get(DATACENTER_KEY), stack)
    except CatalogError as error:
        raise CloudError(error.render()) from None
    field = "reader" if access is Access.READ else "operator"
    entry = getattr(datacenter.identities, field, None) if datacenter.identities else None
    if not entry:
        raise CloudError(
            f"{stack_file(stack)}: config.{DATACENTER_KEY}.identities.{field} is not set; name the "
            f"clouds.yaml entry of the stack's {access.value} identity there (docs/identities.md), "
            "or pass --cloud NAME"
        )
    return str(entry)
