"""Values the offline plan can only stand in for: the one owner of their form, for the plan that writes
them and for every diff (preview, pr-check, drift) that must not take them for the deployed value.

The offline plan runs the program under the SDK's mock engine (webex_cloud/plan/capture.py), with no
cloud. Two kinds of input get a value that only the deploy knows:

- **image**: the Glance id an instance boots is the verified id of the stack's verification record
  (webex_cloud/config/image_ids.py); without one named the plan renders ``[image NAME sha256:HEX]``.
- **lookup**: an invoke (``get_network``, ``get_subnet``: the management network of the controller
  proxies and the monitoring pair, the router's external network) is resolved by the real engine at
  deploy time; the mock answers ``[lookup TOKEN {ARGS}]`` with the invoke's token and arguments (another
  lookup's stand-in among them, as ``get_subnet(network_id=network.id)`` sends it).

The IDs the mock gives resources are not stand-ins of this kind: they are derived from the URN and mapped
back to it on both sides of a diff (webex_cloud/preview/offline.py).

A stand-in is never compared with a deployed value as if it were one. A diff replaces it by the value it
stands for where a source of truth gives it (a lookup answered by the live cloud in drift; an image by
the id the state records under its name), and otherwise does not compare it (:func:`is_stand_in`). Two
stand-ins are compared as they are: a plan that changes a lookup's query or an image's pin shows it.

No cloud accepts a stand-in: brackets and spaces are no OpenStack id, so a plan's value is never deployed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_IMAGE = re.compile(r"^\[image (?P<name>\S+)(?: sha256:[0-9a-f]{64})?\]$")
_LOOKUP = re.compile(r"^\[lookup (?P<token>\S+) (?P<args>\{.*\})\]$", re.DOTALL)


def image_stand_in(name: str, sha256: str | None) -> str:
    """The offline plan's id of the catalog image ``name`` pinned to ``sha256`` (None: a checkout
    without an image catalog, such as a generated benchmark project)."""
    return f"[image {name} sha256:{sha256}]" if sha256 else f"[image {name}]"


def image_name(value: object) -> str | None:
    """The image name an image stand-in stands for; None for anything else (a real id, a name)."""
    found = _IMAGE.match(value) if isinstance(value, str) else None
    return found.group("name") if found else None


@dataclass(frozen=True)
class Lookup:
    """An invoke the offline plan could not make: its token and the arguments the program passed."""

    token: str
    args: Mapping[str, Any]

    def describe(self) -> str:
        """``getNetwork(name=mgmt-dc1)``: the function and the arguments a reader can check by hand."""
        args = ", ".join(f"{k}={v}" for k, v in sorted(self.args.items()) if lookup_of(v) is None)
        return f"{self.token.rsplit(':', 1)[-1]}({args})"


def lookup_stand_in(token: str, args: Mapping[str, Any]) -> str:
    """The offline plan's answer to the invoke ``token`` with ``args`` (canonical: keys sorted)."""
    return f"[lookup {token} {json.dumps(dict(args), sort_keys=True, separators=(',', ':'))}]"


def lookup_of(value: object) -> Lookup | None:
    """The invoke a lookup stand-in stands for; None for anything else."""
    found = _LOOKUP.match(value) if isinstance(value, str) else None
    if found is None:
        return None
    try:
        args = json.loads(found.group("args"))
    except ValueError:
        return None
    return Lookup(found.group("token"), args) if isinstance(args, dict) else None


def is_stand_in(value: object) -> bool:
    """Does the offline plan stand in for this value (an image id or a lookup's answer)?"""
    return image_name(value) is not None or lookup_of(value) is not None


def stand_ins_in(value: object) -> list[str]:
    """Every stand-in inside ``value`` (inputs of any depth); a lookup after the ones its arguments name."""
    found: list[str] = []

    def visit(item: object) -> None:
        if isinstance(item, Mapping):
            for nested in item.values():
                visit(nested)
        elif isinstance(item, list):
            for nested in item:
                visit(nested)
        elif is_stand_in(item) and item not in found:
            if (lookup := lookup_of(item)) is not None:
                visit(dict(lookup.args))
            found.append(str(item))

    visit(value)
    return found


def substitute(value: Any, known: Mapping[str, Any]) -> Any:
    """``value`` with each stand-in ``known`` gives a value for replaced by it (inputs of any depth)."""
    if isinstance(value, str):
        return known.get(value, value)
    if isinstance(value, Mapping):
        return {k: substitute(v, known) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, known) for v in value]
    return value
