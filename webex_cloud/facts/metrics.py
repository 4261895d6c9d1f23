"""The probe series, the services' own metrics job, and the placeholders of an analysis' queries, that the
generated monitoring (``webex_cloud/monitoring``), the release analysis (``webex_cloud/release/analysis.py``)
and the catalog's checks (``webex_cloud/config``) read: one definition on the ground floor, because the
release waves and the configuration sit below the monitoring and may not import it.
Every module imports them from here (``monitoring/contract.py`` holds the names only the monitoring uses).

The metric names are the blackbox exporter v0.23.0's (``prober/handler.go``: ``probe_success`` and
``probe_duration_seconds``, one sample per probe, i.e. per scrape of a ``probe-<service>-<role>`` job).
"""

from __future__ import annotations

import re
import string
from typing import Final

PROMETHEUS_PORT: Final = 9090
"""Where each monitoring node's Prometheus listens (the release gates query it there)."""
SCRAPE_INTERVAL_S: Final = 15
"""How often the generated monitoring scrapes each job (the health gate's 2 s is for the minutes of a
release); a probe job scrapes slower when its check's timeout needs it (``monitoring/scrape.py``). The
policy pack's ``release-analysis-can-judge`` gets it as config (``policy_check/config.py``) to tell a
bake too short to hold a few samples."""
PROBE_JOB_PREFIX: Final = "probe-"
"""Every blackbox job probing catalog instances: ``probe-<service>-<role>``."""
LABEL_INSTANCE: Final = "instance"
"""The Nova instance name (``<datacenter>-<service>-pod-<n>-<role>-<i>``), not host:port."""
PROBE_SUCCESS: Final = "probe_success"
"""1 when the probe succeeded, 0 when it failed."""
PROBE_DURATION: Final = "probe_duration_seconds"
"""How long the probe took (seconds)."""


def probe_job(service: str, role: str) -> str:
    return f"{PROBE_JOB_PREFIX}{service}-{role}"


APP_JOB_PREFIX: Final = "app-"
"""The job scraping a service's own metrics endpoint (catalog ``metrics``): ``app-<service>``; its series
carry the probe jobs' labels (``instance`` the Nova name, ``pod``, ``role``, ...)."""


def app_job(service: str) -> str:
    return f"{APP_JOB_PREFIX}{service}"


PROBE_SERIES_PREFIX: Final = "probe_"
"""Every series a blackbox exporter v0.23.0 ``/probe`` answer holds starts so (``prober/handler.go`` and
the probers in ``prober/*.go``: ``probe_success``, ``probe_duration_seconds``, ``probe_http_*``,
``probe_ssl_*``, ...; its one other metric, ``blackbox_module_unknown_total``, is on its own ``/metrics``)."""
SCRAPE_SERIES: Final = (
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
)
"""What Prometheus v2.42.0 records itself for every target it scrapes (``scrape/scrape.go``,
``scrapeLoop.report``), so for the probe jobs' instances too."""
_SELECTED = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*\{")
"""A metric name written before a vector selector's braces (``name{...}``): the series a query reads."""


def app_series(query: str) -> list[str]:
    """The metric names a query selects that no probe job gives Prometheus (neither the blackbox
    exporter's ``probe_*`` nor the scrape's own ``up``/``scrape_*``, nor a recording rule's ``a:b:c``):
    only a service's own metrics endpoint can export them. A selector without a name is not counted."""
    names = dict.fromkeys(_SELECTED.findall(query))
    return [
        name
        for name in names
        if not name.startswith(PROBE_SERIES_PREFIX) and name not in SCRAPE_SERIES and ":" not in name
    ]


# The placeholders of a release analysis' queries (``rollout.analysis`` in the catalog).
PLACEHOLDERS: Final = ("instances", "pods", "window", "service", "datacenter")
"""What a query may name, as ``$instances`` (a regex alternation of the side's Nova instance names, for
``instance=~"$instances"``), ``$pods`` (of its pod names, for ``pod=~"$pods"``), ``$window`` (the bake
time as a PromQL duration, ``300s``), ``$service`` and ``$datacenter``."""
SIDE_PLACEHOLDERS: Final = ("instances", "pods")
"""One of these must appear in every query: without it the new and the old side read the same series."""


def unknown_placeholders(query: str) -> list[str]:
    """Placeholders a query names that the analysis does not fill (``release/analysis.py``'s
    ``render_query``; the catalog's checks refuse them before a release would)."""
    template = string.Template(query)
    if not template.is_valid():
        return ["$ (a lone dollar sign: write $$ for a literal one)"]
    return [f"${name}" for name in template.get_identifiers() if name not in PLACEHOLDERS]


def names_a_side(query: str) -> bool:
    """Whether the query selects a side (new or old pods) at all."""
    return any(name in SIDE_PLACEHOLDERS for name in string.Template(query).get_identifiers())
