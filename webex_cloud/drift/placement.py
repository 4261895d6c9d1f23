"""Live vs rules: the audit's placement check (webex_cloud/audit/compare.py, rules.py) on the same
inventory drift read, its findings as drift. The check itself lives in the audit, once; drift only maps
its verdict: a pod split, sibling pods on one host, replicas in one failure domain, a duplicate name or
a resource on no host block; a resource carrying the stack's ownership keys that the catalog does not
expect is unmanaged (a warning). A missing resource is not repeated here: the checkpoint's side reports
it as deleted, with its ID.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from webex_cloud.audit.compare import audit
from webex_cloud.audit.expected import Expected
from webex_cloud.cloud.inventory import Inventory, Record
from webex_cloud.cloud.views import observe
from webex_cloud.drift.findings import Drift, make
from webex_cloud.facts import invariants as rules

SKIPPED: Final = frozenset({rules.MISSING_INSTANCE, rules.MISSING_VOLUME})
UNMANAGED: Final = frozenset({rules.UNEXPECTED_INSTANCE, rules.UNEXPECTED_VOLUME})


def _as_recorded(records: Sequence[Record], names: Mapping[str, str]) -> list[Record]:
    """The records under the names the checkpoint knows them by: the audit matches on names, and a
    server renamed out of band is still the program's (its renaming is reported on the state side)."""
    return [{**r, "name": names[str(r.get("id"))]} if str(r.get("id")) in names else r for r in records]


def placement(
    expected: Expected, inventory: Inventory, names: Mapping[str, str]
) -> tuple[list[Drift], list[str]]:
    """The placement findings as drift, and what the identity could not check. ``names``: cloud ID ->
    the name the checkpoint records for it."""
    servers = _as_recorded(inventory.servers, names)
    volumes = _as_recorded(inventory.volumes, names)
    report = audit(expected, observe(servers, volumes, inventory.project))
    found = [
        make(
            "unmanaged" if f.kind in UNMANAGED else "placement",
            f"{f.kind}/{'+'.join(f.items)}",
            ", ".join(f.items),
            ", ".join(f.uuids),
            f.kind,
            None,
            {"uuids": list(f.uuids), "where": list(f.where)},
            f.message,
        )
        for f in report.findings
        if f.kind not in SKIPPED
    ]
    return found, [str(limit) for limit in report.limitations]
