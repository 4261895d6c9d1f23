"""The plan's lookups answered from the live cloud, as the next `up` would answer them.

The offline plan holds a stand-in for each invoke the program makes (webex_cloud/facts/stand_ins.py):
the controller proxies' and the monitoring pair's ports name the management network and subnet found by
name, the router the external network. The real engine resolves them at deploy time and the checkpoint
holds what they returned, so drift answers each from the same read of the cloud it compares with, and the
state-vs-plan diff compares the answer, not the stand-in (webex_cloud/drift/pending.py): a network
re-created under its name is a pending replacement of every port on it (``network_id`` is ForceNew,
terraform-provider-openstack v3.4.0 ``openstack/resource_openstack_networking_port_v2.go``:57-61).

The data sources filter as Neutron lists (terraform-provider-openstack v3.4.0
``openstack/data_source_openstack_networking_network_v2.go``: ``name``, and ``external`` as the
``router:external`` attribute of the external-net extension;
``data_source_openstack_networking_subnet_v2.go``: ``name``, ``network_id``), and fail on no result
("Your query returned no results") or on more than one ("... more than one result"). Such a lookup
is said, not guessed: its inputs are not compared.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from webex_cloud.cloud.inventory import Inventory, Record
from webex_cloud.facts.stand_ins import Lookup, lookup_of, stand_ins_in, substitute
from webex_cloud.plan.format import Plan

_ANSWERED: Final[Mapping[str, tuple[str, Mapping[str, str]]]] = {
    "openstack:networking/getNetwork:getNetwork": (
        "networks",
        {"name": "name", "external": "router:external"},
    ),
    "openstack:networking/getSubnet:getSubnet": ("subnets", {"name": "name", "networkId": "network_id"}),
}
"""Invoke token -> the inventory's listing and each argument's Neutron attribute."""


def _answer(lookup: Lookup, inventory: Inventory) -> tuple[str | None, str]:
    """The id the lookup returns on this cloud, or None and why not."""
    how = _ANSWERED.get(lookup.token)
    if how is None:
        return None, "drift cannot answer this lookup from its read of the cloud"
    listing, attributes = how
    unknown = sorted(set(lookup.args) - set(attributes))
    if unknown:
        return None, f"drift cannot filter on {', '.join(unknown)}"
    if any(lookup_of(v) is not None for v in lookup.args.values()):
        return None, "a lookup it depends on has no answer"
    records: Sequence[Record] = getattr(inventory, listing)
    found = [r for r in records if all(r.get(attributes[key]) == value for key, value in lookup.args.items())]
    if len(found) != 1:
        count = "no result" if not found else f"{len(found)} results"
        return None, f"{count} on the cloud: the next `up` would fail on this lookup"
    return str(found[0]["id"]), ""


def answer_lookups(plan: Plan, inventory: Inventory) -> tuple[dict[str, Any], list[str]]:
    """Each lookup stand-in of the plan -> its answer on the cloud; and what could not be answered."""
    answers: dict[str, Any] = {}
    problems: list[str] = []
    for value in stand_ins_in([r.inputs for r in plan.resources]):
        lookup = lookup_of(value)
        if lookup is None:
            continue
        lookup = Lookup(lookup.token, substitute(dict(lookup.args), answers))
        found, why = _answer(lookup, inventory)
        if found is None:
            problems.append(
                f"the plan's lookup {lookup.describe()}: {why}; the inputs it feeds are not compared "
                "with the checkpoint"
            )
        else:
            answers[value] = found
    return answers, problems
