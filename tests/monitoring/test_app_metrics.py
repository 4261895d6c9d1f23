"""A service's own metrics endpoint (catalog ``metrics``) as an operator meets it: scraped on exactly the
instances of its roles, labelled like the probes (so a release analysis splits new pods from old ones on
it), admitted from the monitoring pair only, checked by promtool; bad input refused naming file and field,
and an analysis reading application series refused unless something scrapes them."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ProjectCopy
from tests.monitoring.test_generate import discovered_labels, documents, kept
from tests.monitoring.tools import require
from webex_cloud import naming
from webex_cloud.commands.monitoring import generate, main, write_folder
from webex_cloud.commands.plan import main as plan_main
from webex_cloud.config.errors import CatalogError
from webex_cloud.config.loader import load_deployment
from webex_cloud.facts import metrics
from webex_cloud.facts.metrics import app_series
from webex_cloud.monitoring import contract as c
from webex_cloud.monitoring_ops import check

MSG = "catalog/messaging.yaml"
EXAMPLE_WITH_ENDPOINT = "meetings-signalling"
"""The example catalog's service that declares its own endpoint (port 9464, every role)."""
ENDPOINT = {"port": 9464, "path": "/internal/metrics", "scheme": "https", "roles": ["app"]}
APP_ANALYSIS = {
    "requests": 'sum(increase(app_calls_total{job="app-$service",instance=~"$instances"}[$window]))',
    "metrics": [
        {
            "name": "error-ratio",
            "query": 'sum(increase(app_calls_total{code="500",instance=~"$instances"}[$window])) / '
            'sum(increase(app_calls_total{instance=~"$instances"}[$window]))',
            "max": 0.02,
        }
    ],
}


def declare(project: ProjectCopy, endpoint: Any = ENDPOINT, analysis: Any = None) -> None:
    def change(doc: dict[str, Any]) -> None:
        if endpoint is not None:
            doc["metrics"] = endpoint
        if analysis is not None:
            doc.setdefault("rollout", {})["analysis"] = analysis

    project.edit(MSG, change)


def _jobs(files: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {job["job_name"]: job for job in documents(files, "prometheus.yml")["scrape_configs"]}


def relabelled(job: dict[str, Any], labels: dict[str, str]) -> dict[str, str]:
    """The target's labels after the job's relabelling (the ``replace`` steps it uses), meta labels
    dropped as Prometheus drops them."""
    out = dict(labels)
    for step in job["relabel_configs"]:
        if step.get("action", "replace") != "replace":
            continue
        value = ";".join(out.get(name, "") for name in step.get("source_labels", []))
        out[step["target_label"]] = step.get("replacement", value) if "source_labels" not in step else value
    return {k: v for k, v in out.items() if not k.startswith("__")}


def test_the_endpoint_is_scraped_on_exactly_its_roles_instances_labelled_like_the_probes(
    project: ProjectCopy,
) -> None:
    declare(project)
    jobs = _jobs(generate(project.root, "dc1"))
    job = jobs[metrics.app_job("messaging")]
    assert job["scheme"] == "https" and job["metrics_path"] == "/internal/metrics"
    assert job["tls_config"] == {"insecure_skip_verify": True} and job["honor_labels"] is False
    assert job["openstack_sd_configs"][0]["port"] == 9464
    deployment = load_deployment(project.root, "dc1")
    for deployed in deployment.services:
        service = deployed.service
        for index in range(service.pods.count):
            pod = naming.pod(service.name, index)
            for member in service.pods.members:
                labels = discovered_labels("dc1", service.name, service.owner, pod, member.role, 0)
                scraped = [name for name, j in jobs.items() if name.startswith("app-") and kept(j, labels)]
                # Messaging declares an endpoint on its app role only (not on the store); the example
                # meetings-signalling declares one on every role; no other service has any.
                wanted = (service.name == "messaging" and member.role == "app") or (
                    service.name == EXAMPLE_WITH_ENDPOINT
                )
                assert scraped == ([metrics.app_job(service.name)] if wanted else [])
                assert not kept(
                    job, discovered_labels("dc2", service.name, service.owner, pod, member.role, 0)
                )
    # The labels a release analysis selects its sides by: the Nova name and the pod, as on the probes.
    labels = discovered_labels("dc1", "messaging", "team-messaging", "messaging-pod-1", "app", 1)
    series = relabelled(job, labels)
    assert series == relabelled(jobs[metrics.probe_job("messaging", "app")], labels)
    assert series[metrics.LABEL_INSTANCE] == "dc1-messaging-pod-1-app-1"
    assert series[c.LABEL_POD] == "messaging-pod-1"
    assert {k: series[k] for k in ("datacenter", "service", "owner", "role")} == {
        "datacenter": "dc1",
        "service": "messaging",
        "owner": "team-messaging",
        "role": "app",
    }


def test_every_role_is_scraped_when_none_is_named_and_no_other_service_gets_a_job(
    project: ProjectCopy,
) -> None:
    declare(project, {"port": 9464})
    jobs = _jobs(generate(project.root, "dc1"))
    assert sorted(name for name in jobs if name.startswith(metrics.APP_JOB_PREFIX)) == [
        metrics.app_job(EXAMPLE_WITH_ENDPOINT),
        "app-messaging",
    ]
    job = jobs["app-messaging"]
    assert (job["scheme"], job["metrics_path"]) == ("http", "/metrics") and "tls_config" not in job
    for role in ("app", "store"):
        labels = discovered_labels("dc1", "messaging", "team-messaging", "messaging-pod-0", role, 0)
        assert kept(job, labels)


def test_the_endpoint_port_is_admitted_from_the_monitoring_nodes_only(project: ProjectCopy) -> None:
    declare(project)
    deployment = load_deployment(project.root, "dc1")
    (messaging,) = [d for d in deployment.services if d.service.name == "messaging"]
    on_port = [
        g for g in messaging.ingress if g.port_min is not None and g.port_min <= 9464 <= (g.port_max or 0)
    ]
    nodes = deployment.datacenter.monitoring.nodes if deployment.datacenter.monitoring else []
    assert sorted(g.remote_prefix for g in on_port) == sorted(f"{node}/32" for node in nodes)
    assert {(g.protocol, g.port_min, g.port_max) for g in on_port} == {("tcp", 9464, 9464)}
    (example,) = [d for d in deployment.services if d.service.name == EXAMPLE_WITH_ENDPOINT]
    assert sorted(g.remote_prefix for g in example.ingress if g.port_min == 9464) == sorted(
        f"{node}/32" for node in nodes
    )
    others = [d for d in deployment.services if d.service.name not in ("messaging", EXAMPLE_WITH_ENDPOINT)]
    assert not any(g.port_min == 9464 for d in others for g in d.ingress)
    # A datacenter nobody watches opens nothing for it.
    project.edit_datacenter("dc1", lambda dc: dc.pop("monitoring"))
    (unwatched,) = [d for d in load_deployment(project.root, "dc1").services if d.service.name == "messaging"]
    assert not any(g.port_min == 9464 for g in unwatched.ingress)


@pytest.mark.parametrize(
    ("endpoint", "field", "says"),
    [
        ({"port": 70000}, "metrics.port", "less than or equal to 65535"),
        ({"port": "9464"}, "metrics.port", "valid integer"),
        ({"port": 9464, "path": "metrics"}, "metrics.path", "should match pattern"),
        ({"port": 9464, "scheme": "grpc"}, "metrics.scheme", "'http' or 'https'"),
        (
            {"port": 9464, "roles": ["ap"]},
            "metrics.roles[0]",
            "no pod member has role 'ap'; valid roles: app, store",
        ),
        ({"port": 9464, "roles": ["app", "app"]}, "metrics.roles[1]", "role 'app' is already used"),
        ({"path": "/metrics"}, "metrics.port", "required field is missing; add it"),
        ({"port": 9464, "interval": "5s"}, "metrics.interval", "Valid keys: path, port, roles, scheme"),
    ],
)
def test_a_bad_endpoint_is_refused_naming_file_and_field(
    project: ProjectCopy, endpoint: dict[str, Any], field: str, says: str
) -> None:
    declare(project, endpoint)
    with pytest.raises(CatalogError) as caught:
        load_deployment(project.root, "dc1")
    matching = [p for p in caught.value.problems if (p.file, p.field) == (MSG, field)]
    assert matching and any(says in p.message for p in matching), str(caught.value)


def test_an_analysis_on_application_series_needs_the_endpoint(
    project: ProjectCopy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    declare(project, endpoint=None, analysis=APP_ANALYSIS)
    out = tmp_path / "out"
    assert main(["--stack", "dc1", "--project", str(project.root), "--out", str(out)]) == 2
    assert not out.exists()
    said = capsys.readouterr().err
    assert f"{MSG}: rollout.analysis.requests: reads app_calls_total" in said, said
    assert f"{MSG}: rollout.analysis.metrics[0].query: reads app_calls_total" in said, said
    assert "add metrics: {port: <port>, path: /metrics} (scraped as job app-messaging" in said
    assert "Traceback" not in said
    # The probes' own series need no endpoint; the application's are accepted once it is declared.
    probes = {
        "requests": 'sum(count_over_time(probe_success{instance=~"$instances"}[$window]))',
        "metrics": [
            {
                "name": "down",
                "query": '1 - avg(avg_over_time(probe_success{pod=~"$pods"}[$window]))',
                "max": 0.1,
            }
        ],
    }
    declare(project, endpoint=None, analysis=probes)
    load_deployment(project.root, "dc1")
    declare(project, endpoint=ENDPOINT, analysis=APP_ANALYSIS)
    assert main(["--stack", "dc1", "--project", str(project.root), "--out", str(out)]) == 0


def test_the_generated_job_and_its_alert_pass_promtool(project: ProjectCopy, tmp_path: Path) -> None:
    require("promtool", "amtool")
    declare(project, analysis=APP_ANALYSIS)
    files = generate(project.root, "dc1")
    write_folder(tmp_path / "dc1", files)
    done = check.check_folder(tmp_path / "dc1")
    assert done[0].split()[1:4] == ["promtool", "check", "config"]
    rules = documents(files, "rules/service-messaging.rules.yml")["groups"][0]["rules"]
    (alert,) = [r for r in rules if r.get("alert") == c.APP_METRICS_NOT_SCRAPED]
    assert alert["expr"] == 'up{job="app-messaging"} == 0' and alert["labels"]["severity"] == "ticket"
    tests = documents(files, "rules/service-messaging.test.yml")["tests"]
    assert {t["name"] for t in tests} >= {"AppMetricsNotScraped fires", "AppMetricsNotScraped stays quiet"}


@pytest.mark.parametrize(
    ("query", "application"),
    [
        ('1 - avg(avg_over_time(probe_success{instance=~"$instances"}[$window]))', []),
        ('sum(up{pod=~"$pods"}) + sum(scrape_duration_seconds {pod=~"$pods"})', []),
        ('min(webex:pod_serving:min{pod=~"$pods"})', []),
        ('sum({__name__="calls_total", pod=~"$pods"})', []),
        (
            'histogram_quantile(0.95, sum by (le) (rate(http_seconds_bucket{pod=~"$pods"}[$window])))'
            ' / sum(rate(http_requests_total {instance=~"$instances"}[$window]))',
            ["http_seconds_bucket", "http_requests_total"],
        ),
    ],
)
def test_application_series_are_the_names_no_probe_job_records(query: str, application: list[str]) -> None:
    assert app_series(query) == application


def test_a_dead_pod_is_one_ticket_not_two_on_the_real_alertmanager(
    project: ProjectCopy, tmp_path: Path
) -> None:
    """``PodNotServing`` silences the same pod's ``AppMetricsNotScraped`` (a pod that serves nothing answers
    no scrape either), and only that pod's: Debian's Alertmanager 0.25 on 127.0.0.1 runs the generated
    inhibitions, every receiver swapped for a webhook to a closed loopback port (nothing leaves the host)."""
    require("prometheus-alertmanager")
    declare(project)
    config = yaml.safe_load(generate(project.root, "dc1")["alertmanager.yml"])
    config["receivers"] = [
        {"name": r["name"], "webhook_configs": [{"url": "http://127.0.0.1:9/"}]} for r in config["receivers"]
    ]
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(config))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    scope = {"datacenter": "dc1", "service": "messaging", "owner": "team-messaging"}
    alerts = [
        {"labels": {"alertname": c.POD_NOT_SERVING, "severity": "ticket", **scope, "pod": "messaging-pod-0"}},
        *(
            {
                "labels": {
                    "alertname": c.APP_METRICS_NOT_SCRAPED,
                    "severity": "ticket",
                    **scope,
                    "pod": pod,
                    "instance": f"dc1-{pod}-app-0",
                    "job": "app-messaging",
                }
            }
            for pod in ("messaging-pod-0", "messaging-pod-1")
        ),
    ]
    with subprocess.Popen(
        [
            "prometheus-alertmanager",
            f"--config.file={tmp_path / 'alertmanager.yml'}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address={url.removeprefix('http://')}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "alertmanager.log").open("wb"),
    ) as process:
        try:
            states = _inhibited_states(url, alerts)
        finally:
            process.terminate()
            process.wait(timeout=20)
    assert states == {
        (c.POD_NOT_SERVING, "messaging-pod-0"): "active",
        (c.APP_METRICS_NOT_SCRAPED, "messaging-pod-0"): "suppressed",
        (c.APP_METRICS_NOT_SCRAPED, "messaging-pod-1"): "active",
    }, (tmp_path / "alertmanager.log").read_text()


def _inhibited_states(url: str, alerts: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """Post the alerts once Alertmanager is up, then wait until its inhibitor has seen them all."""
    body = json.dumps(alerts).encode()
    deadline = time.monotonic() + 30
    states: dict[tuple[str, str], str] = {}
    posted = False
    while time.monotonic() < deadline:
        try:
            if not posted:
                request = urllib.request.Request(
                    f"{url}/api/v2/alerts", body, {"Content-Type": "application/json"}, method="POST"
                )
                urllib.request.urlopen(request, timeout=2).close()
                posted = True
            with urllib.request.urlopen(f"{url}/api/v2/alerts", timeout=2) as answer:
                listed = json.load(answer)
        except OSError:
            time.sleep(0.2)
            continue
        states = {(a["labels"]["alertname"], a["labels"]["pod"]): a["status"]["state"] for a in listed}
        if len(states) == len(alerts) and "suppressed" in states.values():
            return states
        time.sleep(0.2)
    return states


def test_the_plan_registers_the_monitoring_rules_and_the_policy_pack_passes_them(
    project: ProjectCopy, tmp_path: Path
) -> None:
    declare(project)
    assert plan_main(["--stack", "dc1", "--project", str(project.root), "--out", str(tmp_path)]) == 0
    planned = json.loads((tmp_path / "dc1.json").read_text())["resources"]
    rules = {
        r["name"]: r["inputs"]
        for r in planned
        if r["type"] == "openstack:networking/secGroupRule:SecGroupRule"
        and r["inputs"].get("portRangeMin") == 9464
    }
    assert sorted(rules) == [
        f"{service}-tcp-9464-from-10.250.1.{node}_32"
        for service in (EXAMPLE_WITH_ENDPOINT, "messaging")
        for node in (15, 16)
    ]
    assert {(r["direction"], r["protocol"], r["portRangeMax"]) for r in rules.values()} == {
        ("ingress", "tcp", 9464)
    }
