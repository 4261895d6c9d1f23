"""The names the generated monitoring is made of: one owner for every label, job, metric and alert name.

Releases judged by metrics, dashboards and the placement exporter read these names; a rename here is a
rename everywhere (the rules, their unit tests, the Alertmanager routes and docs/monitoring.md, which a
test keeps in step).

Discovery labels are Prometheus v2.42.0's OpenStack SD, ``discovery/openstack/instance.go``: each
instance address becomes a target with ``__meta_openstack_instance_id``, ``__meta_openstack_instance_name``,
``__meta_openstack_instance_status``, ``__meta_openstack_address_pool`` (the Neutron network name) and one
``__meta_openstack_tag_<key>`` per Nova metadata key (the key passed through ``strutil.SanitizeLabelName``);
instances with no address yield no target.
"""

from __future__ import annotations

from typing import Final

from webex_cloud.tags import DATACENTER_KEY, OWNER_KEY, POD_KEY, ROLE_KEY, SERVICE_KEY

PROMETHEUS_VERSION: Final = "2.42.0"
"""Debian bookworm's ``prometheus`` (2.42.0+ds): the version whose SD labels and promtool we follow."""
ALERTMANAGER_VERSION: Final = "0.25.0"
BLACKBOX_VERSION: Final = "0.23.0"

META: Final = "__meta_openstack_"
META_TAG: Final = f"{META}tag_"
META_INSTANCE_ID: Final = f"{META}instance_id"
META_INSTANCE_NAME: Final = f"{META}instance_name"
META_ADDRESS_POOL: Final = f"{META}address_pool"


def meta_tag(key: str) -> str:
    """The discovery label of a Nova metadata key (our keys are already valid label names)."""
    if not key.replace("_", "a").isalnum() or not key.isascii():
        raise ValueError(f"metadata key {key!r} is not a Prometheus label name")
    return META_TAG + key


# Labels every probe series and every alert about a service carries (the metadata keys of tags.py;
# ``instance``, the job names, the probe metrics and Prometheus' port are webex_cloud/facts/metrics.py's,
# shared with releases: import them from there).
LABEL_SERVICE: Final = SERVICE_KEY
LABEL_OWNER: Final = OWNER_KEY
LABEL_DATACENTER: Final = DATACENTER_KEY
LABEL_POD: Final = POD_KEY
LABEL_ROLE: Final = ROLE_KEY
LABEL_INSTANCE_ID: Final = "instance_id"
LABEL_SEVERITY: Final = "severity"
LABEL_CONTROLLER: Final = "controller"
LABEL_PORT: Final = "port"

SEVERITY_PAGE: Final = "page"
"""Wake someone: the service is below what a release may take away, or the datacenter is failing."""
SEVERITY_TICKET: Final = "ticket"
"""Fix in working hours: redundancy is lost, nothing is down yet."""
SEVERITY_NONE: Final = "none"
"""The watchdog: it must always fire."""

CONTROLLER_JOB: Final = "controller-api"
PROMETHEUS_JOB: Final = "prometheus"
ALERTMANAGER_JOB: Final = "alertmanager"
BLACKBOX_JOB: Final = "blackbox"

ALERTMANAGER_PORT: Final = 9093
BLACKBOX_PORT: Final = 9115
BLACKBOX_LOCAL: Final = f"127.0.0.1:{BLACKBOX_PORT}"
"""Each Prometheus probes through the blackbox exporter on its own node."""


def probe_module(service: str, role: str) -> str:
    """The blackbox module of one role's health check."""
    return f"{service}-{role}"


# Recording rules (level:metric:operations, the Prometheus naming practice).
POD_SERVING: Final = "webex:pod_serving:min"
"""1 while every discovered instance of the pod answers its health check, else 0; per pod."""
SERVICE_PODS_SERVING: Final = "webex:service_pods_serving:sum"
"""Pods of the service serving; per service."""
INSTANCES_DISCOVERED: Final = "webex:service_instances_discovered:count"
"""Instances of the service Prometheus found through Nova; per service."""

# Alerts: the runbook section of each is its name in lower case (docs/monitoring.md).
POD_NOT_SERVING: Final = "PodNotServing"
SERVICE_BELOW_FLOOR: Final = "ServiceBelowReleaseFloor"
SERVICE_NOT_N_PLUS_ONE: Final = "ServiceNotNPlusOne"
INSTANCES_MISSING: Final = "InstancesMissing"
PROBES_FAILING: Final = "ProbesNotScraped"
APP_METRICS_NOT_SCRAPED: Final = "AppMetricsNotScraped"
DATACENTER_OUTAGE: Final = "DatacenterOutage"
CONTROLLER_API_DOWN: Final = "ControllerApiDown"
MONITORING_NODE_DOWN: Final = "MonitoringNodeDown"
WATCHDOG: Final = "Watchdog"

# The placement facts (monitoring_ops/facts.py), served by node_exporter's textfile collector on the nodes.
PLACEMENT_FINDINGS: Final = "webex_placement_findings"
PLACEMENT_UNCHECKED: Final = "webex_placement_unchecked"
PLACEMENT_CHECKED_AT: Final = "webex_placement_last_check_timestamp_seconds"
FACTS_JOB: Final = "placement-facts"
NODE_EXPORTER_PORT: Final = 9100
PODS_SHARE_HOST_ALERT: Final = "PodsShareHost"
REPLICAS_SHARE_DOMAIN_ALERT: Final = "ReplicasShareFailureDomain"
POD_SPLIT_ALERT: Final = "PodSplitOverHosts"
PLACEMENT_FACTS_STALE: Final = "PlacementFactsStale"
NO_VALID_HOST_SERVERS: Final = "webex_servers_no_valid_host"
"""Servers of the service Nova left in ERROR with a "No valid host was found" fault (monitoring_ops/facts)."""
NO_VALID_HOST_ALERT: Final = "NoValidHost"
FACTS_MAX_AGE_S: Final = 1800
"""Facts older than this are stale: the job writing them stopped (or cannot read the cloud). The facts
job runs every 10 minutes (.github/workflows/monitoring-facts.yml), and GitHub may start a scheduled run
late under load: two runs missed in a row are not yet an alert, three are."""

# The live facts drift judges too (webex_cloud/drift: N+1 without the hosts Nova reports unavailable,
# the controllers' filter release and schedulers), written by the same job (monitoring_ops/facts.py).
SERVICE_N_PLUS_ONE: Final = "webex_service_n_plus_one"
"""1 while the service still absorbs one more host (or failure domain) loss with the compute hosts Nova
reports down or disabled (outside recorded maintenance) left out; 0 when those hosts broke it."""
HOSTS_UNAVAILABLE: Final = "webex_compute_hosts_unavailable"
"""The stack's compute hosts Nova reports down or disabled outside recorded maintenance; per datacenter."""
CONTROLLER_FILTERS_LOADED: Final = "webex_controller_filters_loaded"
"""1 while the scheduler runs and was started after its filter fragment was written; per controller
and scheduler (``nova``, ``cinder``)."""
CONTROLLER_FILTER_RELEASE: Final = "webex_controller_filter_release"
"""1 when the controller runs the filter release (and fragments) the stack's checkpoint deployed, 0 when
not; labels ``release`` (the wheel's sha256 its current.json records, ``none`` without one) and
``deployed`` (the checkpoint's)."""
LABEL_SCHEDULER: Final = "scheduler"
LABEL_RELEASE: Final = "release"
LABEL_DEPLOYED: Final = "deployed"
NO_SPARE_HOST_ALERT: Final = "ServiceHostLossNotAbsorbed"
FILTERS_NOT_LOADED_ALERT: Final = "SchedulerFiltersNotLoaded"
FILTER_RELEASE_ALERT: Final = "FilterReleaseNotDeployed"
