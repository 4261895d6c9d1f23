"""``prometheus.yml`` and ``blackbox.yml`` of one stack.

Discovery: one ``openstack_sd_configs`` (role ``instance``) per probed role, kept to the instances whose
Nova metadata names this datacenter, the service and the role (the keys ``webex_cloud/tags.py``
writes), on the service's own network. A replaced pod is found on the next refresh, with no config change.
No credential is written: with ``identity_endpoint`` unset, Prometheus v2.42.0 takes the identity from
its environment (``discovery/openstack/openstack.go``, ``newRefresher``: ``openstack.AuthOptionsFromEnv``,
the ``OS_*`` variables of gophercloud) — the stack's read-only identity, placed by the deploy.

Application metrics: a service that declares its own endpoint (catalog ``metrics``) gets job
``app-<service>``, discovered and labelled exactly as its probe jobs, scraped straight from the instances.

Probing: every discovered address goes through the blackbox exporter on the Prometheus node's own
loopback, with a module per role made from the same health check the release gates run
(``webex_cloud/release/probe.py``: TCP connect, or one GET whose status must equal ``expected_status``,
redirects not followed, the certificate not verified).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from webex_cloud.config.models import HealthCheck
from webex_cloud.facts import metrics
from webex_cloud.monitoring import contract as c
from webex_cloud.monitoring.model import AppEndpoint, RoleProbe, ServiceWatch, StackWatch, duration

RULES_GLOB = "rules/*.rules.yml"


def _duration(seconds: float) -> str:
    return f"{max(1, math.ceil(seconds))}s"


def scrape_timing(check: HealthCheck, probe_interval_s: int) -> tuple[str, str]:
    """(scrape_interval, scrape_timeout) leaving the probe its whole ``timeout_s`` and a second more;
    ``probe_interval_s`` is the stack's ``monitoring.timing`` (the health gate's 2 s is for the minutes of
    a release)."""
    timeout = math.ceil(check.timeout_s) + 1
    interval = max(probe_interval_s, timeout)
    return f"{interval}s", f"{timeout}s"


def blackbox_module(check: HealthCheck) -> dict[str, Any]:
    """A blackbox exporter v0.23 module doing what ``release.probe.attempt`` does."""
    if check.protocol == "tcp":
        return {
            "prober": "tcp",
            "timeout": _duration(check.timeout_s),
            "tcp": {"preferred_ip_protocol": "ip4"},
        }
    return {
        "prober": "http",
        "timeout": _duration(check.timeout_s),
        "http": {
            "method": "GET",
            "valid_status_codes": [check.expected_status],
            "no_follow_redirects": True,
            "preferred_ip_protocol": "ip4",
            "headers": {"User-Agent": "webex-cloud-monitoring"},
            "tls_config": {"insecure_skip_verify": True},
        },
    }


def blackbox_config(watch: StackWatch) -> dict[str, Any]:
    modules: dict[str, Any] = {}
    for service in watch.services:
        for role in service.roles:
            modules[c.probe_module(role.service, role.role)] = blackbox_module(role.check)
    modules["controller-api"] = blackbox_module(HealthCheck(protocol="tcp", port=1))
    return {"modules": modules}


def _target_relabel(check: HealthCheck) -> dict[str, Any]:
    """Prometheus hands the blackbox exporter ``host:port`` (tcp) or the URL of the check (http/https)."""
    if check.protocol == "tcp":
        return {"source_labels": ["__address__"], "target_label": "__param_target"}
    return {
        "source_labels": ["__address__"],
        "regex": "(.+)",
        "target_label": "__param_target",
        "replacement": f"{check.protocol}://${{1}}{check.path}",
    }


def _discovery(watch: StackWatch, service: ServiceWatch, roles: Sequence[str], port: int) -> dict[str, Any]:
    """The instances of ``roles`` of the service through Nova, at ``port``, and the labels every series
    about an instance carries: ``instance`` (the Nova name) and ``pod`` are what a release analysis
    splits the wave's pods from the unchanged ones by (``$instances``, ``$pods``)."""
    keep = [c.meta_tag(c.LABEL_DATACENTER), c.meta_tag(c.LABEL_SERVICE), c.meta_tag(c.LABEL_ROLE)]
    # Our names are [a-z0-9-] (config.models.Name): nothing to escape in the RE2 alternation.
    role = roles[0] if len(roles) == 1 else f"(?:{'|'.join(roles)})"
    return {
        "openstack_sd_configs": [
            {"role": "instance", "region": watch.region, "port": port, "refresh_interval": "60s"}
        ],
        "relabel_configs": [
            {
                "source_labels": [*keep, c.META_ADDRESS_POOL],
                "separator": ";",
                "regex": f"{watch.datacenter};{service.service};{role};{service.network}",
                "action": "keep",
            },
            {"source_labels": [c.META_INSTANCE_NAME], "target_label": metrics.LABEL_INSTANCE},
            {"source_labels": [c.META_INSTANCE_ID], "target_label": c.LABEL_INSTANCE_ID},
            *(
                {"source_labels": [c.meta_tag(key)], "target_label": key}
                for key in (c.LABEL_DATACENTER, c.LABEL_SERVICE, c.LABEL_OWNER, c.LABEL_POD, c.LABEL_ROLE)
            ),
        ],
    }


def probe_job(watch: StackWatch, service: ServiceWatch, role: RoleProbe) -> dict[str, Any]:
    interval, timeout = scrape_timing(role.check, watch.monitoring.timing.probe_interval_s)
    discovery = _discovery(watch, service, [role.role], role.check.port)
    keep, *labels = discovery["relabel_configs"]
    return {
        "job_name": metrics.probe_job(service.service, role.role),
        "scrape_interval": interval,
        "scrape_timeout": timeout,
        "metrics_path": "/probe",
        "params": {"module": [c.probe_module(service.service, role.role)]},
        "openstack_sd_configs": discovery["openstack_sd_configs"],
        "relabel_configs": [
            keep,
            _target_relabel(role.check),
            *labels,
            {"target_label": "__address__", "replacement": c.BLACKBOX_LOCAL},
        ],
    }


def app_job(watch: StackWatch, service: ServiceWatch, endpoint: AppEndpoint) -> dict[str, Any]:
    """The service's own metrics, scraped straight from each instance (the port its security group
    admits from the monitoring nodes). ``honor_labels`` stays false: an ``instance``, ``pod`` or ``job``
    the application exports itself becomes ``exported_<name>``, so the discovery's labels, which the
    release analysis selects sides by, always win (Prometheus v2.42.0 ``scrape/scrape.go``,
    ``mutateSampleLabels``)."""
    job: dict[str, Any] = {
        "job_name": metrics.app_job(service.service),
        "scheme": endpoint.scheme,
        "metrics_path": endpoint.path,
        "honor_labels": False,
    }
    if endpoint.scheme == "https":
        job["tls_config"] = {"insecure_skip_verify": True}
    return {**job, **_discovery(watch, service, endpoint.roles, endpoint.port)}


def _nodes(watch: StackWatch, port: int) -> list[str]:
    return [f"{node}:{port}" for node in watch.monitoring.nodes]


def _static_job(watch: StackWatch, name: str, targets: list[str]) -> dict[str, Any]:
    labels = {c.LABEL_DATACENTER: watch.datacenter, c.LABEL_OWNER: watch.platform_owner}
    return {"job_name": name, "static_configs": [{"targets": targets, "labels": labels}]}


def controller_job(watch: StackWatch) -> dict[str, Any]:
    return {
        "job_name": c.CONTROLLER_JOB,
        "metrics_path": "/probe",
        "params": {"module": ["controller-api"]},
        "static_configs": [
            {
                "targets": [f"{api.address}:{port}" for port in api.ports],
                "labels": {
                    c.LABEL_DATACENTER: watch.datacenter,
                    c.LABEL_CONTROLLER: api.name,
                    c.LABEL_OWNER: watch.platform_owner,
                },
            }
            for api in watch.controllers
        ],
        "relabel_configs": [
            {"source_labels": ["__address__"], "target_label": "__param_target"},
            {"source_labels": ["__address__"], "regex": ".*:([0-9]+)", "target_label": c.LABEL_PORT},
            {"target_label": "__address__", "replacement": c.BLACKBOX_LOCAL},
        ],
    }


def prometheus_config(watch: StackWatch) -> dict[str, Any]:
    probes = [probe_job(watch, service, role) for service in watch.services for role in service.roles]
    apps = [app_job(watch, service, service.metrics) for service in watch.services if service.metrics]
    interval = duration(watch.monitoring.timing.probe_interval_s)
    return {
        "global": {
            "scrape_interval": interval,
            "evaluation_interval": interval,
            # Both nodes send identical alerts: the Alertmanager pair deduplicates them.
            "external_labels": {c.LABEL_DATACENTER: watch.datacenter},
        },
        "rule_files": [RULES_GLOB],
        "alerting": {
            "alertmanagers": [{"static_configs": [{"targets": _nodes(watch, c.ALERTMANAGER_PORT)}]}]
        },
        "scrape_configs": [
            _static_job(watch, c.PROMETHEUS_JOB, _nodes(watch, metrics.PROMETHEUS_PORT)),
            _static_job(watch, c.ALERTMANAGER_JOB, _nodes(watch, c.ALERTMANAGER_PORT)),
            _static_job(watch, c.BLACKBOX_JOB, _nodes(watch, c.BLACKBOX_PORT)),
            # node_exporter's textfile collector serves the live audit's facts (monitoring_ops/facts.py).
            _static_job(watch, c.FACTS_JOB, _nodes(watch, c.NODE_EXPORTER_PORT)),
            controller_job(watch),
            *probes,
            *apps,
        ],
    }
