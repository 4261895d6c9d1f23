"""Scheduler configuration fragments for the controller stack, as pure functions and a CLI.

``python -m webex_scheduler_filters.render nova`` prints the nova-scheduler fragment,
``... cinder-scheduler [--failure-domains domains.json]`` the cinder-scheduler one and
``... cinder-volume --host cinder-a --failure-domains domains.json`` the backend sections
of one cinder-volume host, where ``domains.json`` maps each failure domain to its backends
(``{"rack-a": ["cinder-a@ceph-a"], ...}``, the plan's ``datacenter.failure_domains``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence

from webex_scheduler_filters.hints import (
    CINDER_CONFIG_GROUP,
    CINDER_FAILURE_DOMAINS_OPTION,
    FAILURE_DOMAIN_CAPABILITY,
)

NOVA_FILTER_PATH = "webex_scheduler_filters.nova_filter.PodFilter"
NOVA_FILTER_NAME = NOVA_FILTER_PATH.rsplit(".", 1)[1]
#: Nova's own default ``enabled_filters`` (unchanged from Zed to 2026.2).
NOVA_DEFAULT_FILTERS = (
    "ComputeFilter",
    "ComputeCapabilitiesFilter",
    "ImagePropertiesFilter",
    "ServerGroupAntiAffinityFilter",
    "ServerGroupAffinityFilter",
)
CINDER_FILTER_NAME = "VolumeGroupSpreadFilter"
#: Cinder's own default ``scheduler_default_filters``.
CINDER_DEFAULT_FILTERS = ("AvailabilityZoneFilter", "CapacityFilter", "CapabilitiesFilter")


_OSLO_SPECIAL = ("$", "\n", "\r", "\x00")


def oslo_value(value: str, what: str, *, list_item: bool = False) -> str:
    """``value`` as written after ``option = `` in an oslo.config file, or ValueError naming ``what``.

    oslo.config interpolates ``$name`` and ``${name}`` in every value it reads (oslo_config/cfg.py,
    ``ConfigOpts._substitute``), a line break would start a new option, and in a list option a comma
    separates two items: none of them may come from our input, whatever field carried it.
    """
    bad = [c for c in _OSLO_SPECIAL if c in value] + ([","] if list_item and "," in value else [])
    if bad or (list_item and not value.strip()):
        shown = ", ".join(repr(c) for c in bad) or "nothing"
        raise ValueError(
            f"{what} {value!r} cannot be written to an oslo.config file: it holds {shown} "
            "('$' is oslo.config's reference to another option, a line break starts a new option, a "
            "comma splits a list item)"
        )
    return value


def _filter_list(names: Sequence[str], what: str) -> str:
    return ",".join(oslo_value(name, what, list_item=True) for name in names)


def nova_scheduler_conf(enabled: Sequence[str] = NOVA_DEFAULT_FILTERS) -> str:
    """The ``[filter_scheduler]`` section: Nova's filters plus ours, ours last.

    Last because it is the only one that reads the database: the cheap filters shrink the
    host list first, and a request they already reject costs no query.
    """
    names = [name for name in enabled if name != NOVA_FILTER_NAME] + [NOVA_FILTER_NAME]
    return (
        "[filter_scheduler]\n"
        "available_filters = nova.scheduler.filters.all_filters\n"
        f"available_filters = {NOVA_FILTER_PATH}\n"
        f"enabled_filters = {_filter_list(names, 'nova filter')}\n"
    )


def cinder_scheduler_conf(
    enabled: Sequence[str] = CINDER_DEFAULT_FILTERS,
    failure_domains: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """The ``[DEFAULT]`` filter list of cinder-scheduler, ours first, and the failure-domain map.

    First because it must see every backend: a sibling replica's live label is read from its
    backend's state, which an earlier filter could have removed from the list. The map
    (``host@backend`` -> domain, from the stack's ``failure_domains``) lets the filter know a
    backend's domain while that backend is down, which is when a replacement is scheduled.
    """
    names = [CINDER_FILTER_NAME] + [name for name in enabled if name != CINDER_FILTER_NAME]
    text = f"[DEFAULT]\nscheduler_default_filters = {_filter_list(names, 'cinder filter')}\n"
    if failure_domains:
        mapping = oslo_value(
            json.dumps(backend_failure_domains(failure_domains), sort_keys=True), "failure-domain map"
        )
        text += f"\n[{CINDER_CONFIG_GROUP}]\n{CINDER_FAILURE_DOMAINS_OPTION} = {mapping}\n"
    return text


def backend_failure_domains(failure_domains: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """``host@backend`` -> failure domain, refusing a backend listed in two domains."""
    owner: dict[str, str] = {}
    for domain, backends in sorted(failure_domains.items()):
        for backend in backends:
            host, sep, name = backend.partition("@")
            if not (host and sep and name) or "#" in backend:
                raise ValueError(f"failure domain {domain!r}: {backend!r} is not a 'host@backend' name")
            if backend in owner:
                raise ValueError(
                    f"backend {backend!r} is in two failure domains: {owner[backend]!r} and "
                    f"{domain!r}; a backend belongs to exactly one"
                )
            owner[backend] = domain
    return owner


def cinder_volume_conf(failure_domains: Mapping[str, Sequence[str]], host: str) -> str:
    """The backend sections of one cinder-volume host, each declaring its failure domain."""
    owner = backend_failure_domains(failure_domains)
    sections = []
    for backend, domain in sorted(owner.items()):
        backend_host, _, section = backend.partition("@")
        if backend_host == host:
            capabilities = json.dumps({FAILURE_DOMAIN_CAPABILITY: domain}, sort_keys=True)
            if "]" in section:
                raise ValueError(f"backend {backend!r}: ']' cannot be in an oslo.config section name")
            oslo_value(section, "backend section")
            sections.append(f"[{section}]\nextra_capabilities = {oslo_value(capabilities, 'capabilities')}\n")
    if not sections:
        raise ValueError(f"no backend of host {host!r} is in any failure domain")
    return "\n".join(sections)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m webex_scheduler_filters.render",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("target", choices=["nova", "cinder-scheduler", "cinder-volume"])
    parser.add_argument("--host", help="cinder-volume host whose backend sections to print")
    parser.add_argument(
        "--failure-domains", metavar="FILE", help="JSON object: failure domain -> list of 'host@backend'"
    )
    args = parser.parse_args(argv)
    if args.target == "nova":
        sys.stdout.write(nova_scheduler_conf())
        return 0
    if args.target == "cinder-volume" and not (args.host and args.failure_domains):
        parser.error("cinder-volume needs --host and --failure-domains")
    try:
        domains: dict[str, list[str]] | None = None
        if args.failure_domains:
            with open(args.failure_domains, encoding="utf-8") as handle:
                domains = json.load(handle)
            if not isinstance(domains, dict) or not all(
                isinstance(v, list) and all(isinstance(b, str) for b in v) for v in domains.values()
            ):
                raise ValueError(
                    "expected a JSON object mapping each failure domain to a list of 'host@backend'"
                )
        if args.target == "cinder-scheduler":
            sys.stdout.write(cinder_scheduler_conf(failure_domains=domains))
        else:
            sys.stdout.write(cinder_volume_conf(domains or {}, args.host))
    except (OSError, ValueError) as error:
        print(f"error: {args.failure_domains}: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
