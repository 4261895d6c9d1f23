"""``alertmanager.yml`` of one stack: every alert to its ``owner``'s receiver, the watchdog to the dead
man's switch outside the datacenter, and inhibitions so that one cause pages once.

Receivers are the stack file's ``monitoring.receivers`` (one per owner; the loader refuses an owner without
one). No key is ever written here: PagerDuty's ``routing_key_file`` and the webhook's bearer
``credentials_file`` name files the deploy places on the nodes from Pulumi secrets (Alertmanager v0.25.0,
``config/notifiers.go``: ``PagerdutyConfig.RoutingKeyFile``; ``WebhookConfig.HTTPConfig``, the common
``authorization.credentials_file``).
"""

from __future__ import annotations

from typing import Any

from webex_cloud.config.models import WATCHDOG_RECEIVER, Receiver
from webex_cloud.monitoring import contract as c
from webex_cloud.monitoring.model import StackWatch, duration

GROUP_BY = ["alertname", c.LABEL_DATACENTER, c.LABEL_SERVICE]

PER_POD = [c.POD_NOT_SERVING, c.SERVICE_NOT_N_PLUS_ONE, c.INSTANCES_MISSING, c.APP_METRICS_NOT_SCRAPED]
"""What a datacenter-wide outage silences: the per-pod symptoms of the one cause already paged."""


def receiver(name: str, declared: Receiver) -> dict[str, Any]:
    if declared.pagerduty is not None:
        return {
            "name": name,
            "pagerduty_configs": [
                {"routing_key_file": declared.pagerduty.routing_key_file, "send_resolved": True}
            ],
        }
    assert declared.webhook is not None  # the model holds exactly one
    webhook: dict[str, Any] = {"url": declared.webhook.url, "send_resolved": True}
    if declared.webhook.credentials_file is not None:
        webhook["http_config"] = {
            "authorization": {"type": "Bearer", "credentials_file": declared.webhook.credentials_file}
        }
    return {"name": name, "webhook_configs": [webhook]}


def _matcher(label: str, value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{label}="{escaped}"'


def alertmanager_config(watch: StackWatch) -> dict[str, Any]:
    monitoring = watch.monitoring
    owners = sorted(monitoring.receivers)
    timing = monitoring.timing
    routes: list[dict[str, Any]] = [
        {
            "receiver": WATCHDOG_RECEIVER,
            "matchers": [_matcher("alertname", c.WATCHDOG)],
            "group_wait": "0s",
            "group_interval": "1m",
            "repeat_interval": "1m",
        },
        *({"receiver": owner, "matchers": [_matcher(c.LABEL_OWNER, owner)]} for owner in owners),
    ]
    return {
        "route": {
            # An alert whose owner has no route (none should: the loader checks every owner) still
            # reaches someone: the platform team, never nobody.
            "receiver": watch.platform_owner,
            "group_by": GROUP_BY,
            "group_wait": duration(timing.notify_wait_s),
            "group_interval": duration(timing.notify_interval_s),
            "repeat_interval": "4h",
            "routes": routes,
        },
        "inhibit_rules": [
            {
                "source_matchers": [_matcher("alertname", c.DATACENTER_OUTAGE)],
                "target_matchers": [f'alertname=~"{"|".join(PER_POD)}"'],
                "equal": [c.LABEL_DATACENTER],
            },
            {
                "source_matchers": [_matcher("alertname", c.SERVICE_BELOW_FLOOR)],
                "target_matchers": [f'alertname=~"{c.POD_NOT_SERVING}|{c.SERVICE_NOT_N_PLUS_ONE}"'],
                "equal": [c.LABEL_DATACENTER, c.LABEL_SERVICE],
            },
            # A pod that does not serve at all does not answer its metrics scrape either: one ticket.
            {
                "source_matchers": [_matcher("alertname", c.POD_NOT_SERVING)],
                "target_matchers": [_matcher("alertname", c.APP_METRICS_NOT_SCRAPED)],
                "equal": [c.LABEL_DATACENTER, c.LABEL_SERVICE, c.LABEL_POD],
            },
        ],
        "receivers": [
            *(receiver(owner, monitoring.receivers[owner]) for owner in owners),
            receiver(WATCHDOG_RECEIVER, monitoring.watchdog),
        ],
    }
