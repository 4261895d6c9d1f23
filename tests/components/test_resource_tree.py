"""The resource tree of the example stacks is pinned: a URN or parent that changes is a replacement.

Pulumi identifies a resource by its URN (stack, project, parent type chain, type, name): moving a
resource under another parent or renaming it deletes the deployed one and creates a new one, unless
the program declares ``aliases``. Refactoring the components must not do that silently, so the
URNs and parents of dc1 and dc2 are pinned in tests/data/plan-urns/<stack>.tsv (written from the
plans of main before the controller pair was split into modules). Added resources are fine; a
renamed or moved one is refused. A deliberate change updates the
file in the same commit (``python -m tests.components.test_resource_tree`` rewrites it), and its
diff shows the reviewer exactly which resources would be replaced.
"""

from __future__ import annotations

import pytest

from tests.conftest import REPO
from webex_cloud.plan.document import render_plan

PINNED = REPO / "tests" / "data" / "plan-urns"


STACKS = ("dc1", "dc2")


def tree(stack: str) -> list[str]:
    """``<urn>\t<parent urn>`` of every resource of the stack's plan, sorted by URN."""
    resources = sorted(render_plan(stack, project_dir=REPO)["resources"], key=lambda r: r["urn"])
    return [f"{r['urn']}\t{r['parent']}" for r in resources]


@pytest.mark.parametrize("stack", STACKS)
def test_every_pinned_urn_is_still_rendered_under_its_parent(stack: str) -> None:
    pinned = (PINNED / f"{stack}.tsv").read_text().splitlines()
    assert pinned
    # A new catalog service only adds resources (creates); a pinned line that is gone is a
    # resource the next `pulumi up` would delete or replace.
    missing = sorted(set(pinned) - set(tree(stack)))
    assert not missing, "renamed or reparented (a replacement):\n" + "\n".join(missing)


if __name__ == "__main__":
    for name in STACKS:
        (PINNED / f"{name}.tsv").write_text("".join(line + "\n" for line in tree(name)))
