"""The generated monitoring as an operator meets it: discovery that finds exactly the stack's instances,
probes that ask what the release gates ask, every owner routed, no secret in a file, bad input refused."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, ProjectCopy
from webex_cloud import naming
from webex_cloud.commands.monitoring import generate, main, write_folder
from webex_cloud.config.errors import CatalogError
from webex_cloud.config.loader import load_deployment
from webex_cloud.facts import metrics
from webex_cloud.monitoring import contract as c
from webex_cloud.monitoring import rules
from webex_cloud.monitoring.model import NotMonitored, stack_watch
from webex_cloud.release.rollout import check_for
from webex_cloud.tags import POD_KEY, ROLE_KEY, ownership_metadata

STACKS = ["dc1", "dc2"]
RECEIVERS = "config.webex-cloud:datacenter.monitoring.receivers"


def documents(files: dict[str, str], name: str) -> Any:
    return yaml.safe_load(files[name])


def discovered_labels(dc: str, service: str, owner: str, pod: str, role: str, ordinal: int) -> dict[str, str]:
    """What Prometheus v2.42.0's OpenStack SD reports for an instance the Pod component creates
    (discovery/openstack/instance.go: metadata -> __meta_openstack_tag_<key>, network -> address_pool)."""
    metadata = {**ownership_metadata(service, owner, dc), POD_KEY: pod, ROLE_KEY: role}
    labels = {f"{c.META_TAG}{key}": value for key, value in metadata.items()}
    labels[c.META_ADDRESS_POOL] = naming.cloud_name(dc, service)
    labels[c.META_INSTANCE_NAME] = naming.cloud_name(dc, naming.instance(pod, role, ordinal))
    labels["__address__"] = "10.10.0.20:443"
    return labels


def kept(job: dict[str, Any], labels: dict[str, str]) -> bool:
    """Prometheus' ``keep`` relabel step: the joined source labels must fully match the RE2 regex."""
    for step in job["relabel_configs"]:
        if step.get("action") == "keep":
            joined = step.get("separator", ";").join(labels.get(name, "") for name in step["source_labels"])
            if re.fullmatch(step["regex"], joined) is None:
                return False
    return True


@pytest.mark.parametrize("stack", STACKS)
def test_each_role_is_discovered_by_its_metadata_and_nothing_else(stack: str) -> None:
    deployment = load_deployment(REPO, stack)
    config = documents(generate(REPO, stack), "prometheus.yml")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    instances = [
        (deployed.service, pod, member.role, ordinal)
        for deployed in deployment.services
        for pod in (naming.pod(deployed.service.name, i) for i in range(deployed.service.pods.count))
        for member in deployed.service.pods.members
        for ordinal in range(member.count)
    ]
    for service, pod, role, ordinal in instances:
        labels = discovered_labels(stack, service.name, service.owner, pod, role, ordinal)
        probing = {name: job for name, job in jobs.items() if name.startswith(metrics.PROBE_JOB_PREFIX)}
        keeping = [name for name, job in probing.items() if kept(job, labels)]
        # Exactly one job probes each instance, with its role's health-check port.
        assert keeping == [metrics.probe_job(service.name, role)]
        assert jobs[keeping[0]]["openstack_sd_configs"][0]["port"] == check_for(service, role).port
        other_dc = discovered_labels("dc9", service.name, service.owner, pod, role, ordinal)
        assert not any(kept(job, other_dc) for job in jobs.values() if "openstack_sd_configs" in job)
    # No credential: the reader identity comes from the Prometheus process' OS_* environment.
    for job in jobs.values():
        for sd in job.get("openstack_sd_configs", []):
            assert set(sd) == {"role", "region", "port", "refresh_interval"}
            assert sd["region"] == deployment.datacenter.region


def test_an_http_health_check_is_probed_the_way_the_release_gate_probes_it(project: ProjectCopy) -> None:
    project.edit(
        "catalog/messaging.yaml",
        lambda doc: doc.__setitem__(
            "rollout",
            {
                "health_check": {
                    "protocol": "https",
                    "port": 8443,
                    "path": "/healthz",
                    "expected_status": 204,
                },
                "roles": {"store": {"protocol": "tcp", "port": 9042, "timeout_s": 20}},
            },
        ),
    )
    files = generate(project.root, "dc1")
    modules = documents(files, "blackbox.yml")["modules"]
    app = modules["messaging-app"]
    assert app["prober"] == "http" and app["http"]["valid_status_codes"] == [204]
    # release/probe.py neither follows redirects nor verifies the certificate: nor does the monitoring.
    assert app["http"]["no_follow_redirects"] is True and app["http"]["tls_config"]["insecure_skip_verify"]
    assert modules["messaging-store"] == {
        "prober": "tcp",
        "timeout": "20s",
        "tcp": {"preferred_ip_protocol": "ip4"},
    }
    jobs = {job["job_name"]: job for job in documents(files, "prometheus.yml")["scrape_configs"]}
    target = next(
        s for s in jobs["probe-messaging-app"]["relabel_configs"] if s.get("target_label") == "__param_target"
    )
    assert target["replacement"] == "https://${1}/healthz"
    assert jobs["probe-messaging-app"]["openstack_sd_configs"][0]["port"] == 8443
    # A 20 s probe gets its 20 s: the scrape waits a second longer and is never shorter than its timeout.
    assert (
        jobs["probe-messaging-store"]["scrape_timeout"],
        jobs["probe-messaging-store"]["scrape_interval"],
    ) == (
        "21s",
        "21s",
    )


@pytest.mark.parametrize("stack", STACKS)
def test_every_owner_is_routed_to_its_own_receiver_and_no_secret_is_written(stack: str) -> None:
    deployment = load_deployment(REPO, stack)
    files = generate(REPO, stack)
    config = documents(files, "alertmanager.yml")
    routes = {route["receiver"]: route["matchers"] for route in config["route"]["routes"]}
    for deployed in deployment.services:
        assert routes[deployed.service.owner] == [f'owner="{deployed.service.owner}"']
    assert routes["watchdog"] == ['alertname="Watchdog"']
    assert config["route"]["receiver"] == deployment.datacenter.controllers.owner
    # Every rule's alerts carry an owner that has a route (a rule label or the probed instance's).
    owners = set(routes)
    for name, text in files.items():
        if name.endswith(".rules.yml"):
            for group in yaml.safe_load(text)["groups"]:
                for rule in group["rules"]:
                    if "alert" in rule and "owner" in rule["labels"]:
                        assert rule["labels"]["owner"] in owners
    text = "\n".join(files.values())
    for secret_key in (
        "routing_key:",
        "service_key:",
        "api_url:",
        "password",
        "credentials:",
        "bearer_token:",
    ):
        assert secret_key not in text


def test_an_owner_without_a_receiver_is_refused_naming_file_and_field(project: ProjectCopy) -> None:
    project.edit_datacenter("dc1", lambda dc: dc["monitoring"]["receivers"].pop("team-messaging"))
    with pytest.raises(CatalogError) as caught:
        load_deployment(project.root, "dc1")
    problem = caught.value.problems[0]
    assert (problem.file, problem.field) == (
        "stacks/Pulumi.dc1.yaml",
        RECEIVERS,
    )
    assert "'team-messaging'" in problem.message and "catalog/messaging.yaml" in problem.message


@pytest.mark.parametrize(
    ("receiver", "field", "says"),
    [
        ({"webhook": {"url": "https://relay.example/x?token=abc"}}, "url", "String should match pattern"),
        ({"webhook": {"url": "https://user:pw@relay.example/x"}}, "url", "String should match pattern"),
        ({"pagerduty": {"routing_key": "R0123456789"}}, "routing_key", "did you mean 'routing_key_file'"),
        ({}, "", "exactly one of webhook or pagerduty"),
    ],
)
def test_a_receiver_holding_a_secret_or_nothing_is_refused(
    project: ProjectCopy, receiver: dict[str, Any], field: str, says: str
) -> None:
    project.edit_datacenter(
        "dc1", lambda dc: dc["monitoring"]["receivers"].__setitem__("team-media", receiver)
    )
    with pytest.raises(CatalogError) as caught:
        load_deployment(project.root, "dc1")
    rendered = str(caught.value)
    assert "stacks/Pulumi.dc1.yaml: config.webex-cloud:datacenter.monitoring.receivers.team-media" in rendered
    assert field in rendered and says in rendered


def test_a_monitoring_node_off_the_management_network_is_refused(project: ProjectCopy) -> None:
    project.edit_datacenter(
        "dc1", lambda dc: dc["monitoring"].__setitem__("nodes", ["10.250.1.15", "10.99.0.1"])
    )
    with pytest.raises(
        CatalogError, match=r"monitoring.nodes\[1\]: 10.99.0.1 is outside controllers.management"
    ):
        load_deployment(project.root, "dc1")


def test_a_stack_without_monitoring_says_what_to_add(project: ProjectCopy) -> None:
    project.edit_datacenter("dc1", lambda dc: dc.pop("monitoring"))
    with pytest.raises(
        NotMonitored, match=r"stacks/Pulumi.dc1.yaml: config.webex-cloud:datacenter.monitoring"
    ):
        generate(project.root, "dc1")


@pytest.mark.parametrize("stack", STACKS)
def test_every_alert_has_a_runbook_section_and_tests_that_fire_and_stay_quiet(stack: str) -> None:
    watch = stack_watch(load_deployment(REPO, stack), f"stacks/Pulumi.{stack}.yaml")
    page = (REPO / "docs" / "monitoring.md").read_text(encoding="utf-8")
    headings = {line[4:].strip().lower() for line in page.splitlines() if line.startswith("### ")}
    for group in rules.rule_groups(watch):
        for alert in group.alerts:
            assert alert.name.lower() in headings, f"docs/monitoring.md has no '### {alert.name}'"
            outcomes = {bool(case.fires) for case in alert.cases}
            assert outcomes == ({True} if alert.name == c.WATCHDOG else {True, False}), alert.name


def test_the_release_floor_is_what_a_release_leaves(project: ProjectCopy) -> None:
    project.edit(
        "catalog/meetings-media.yaml", lambda doc: doc.__setitem__("rollout", {"max_unavailable": 2})
    )
    files = generate(project.root, "dc1")
    rule = next(
        r
        for r in yaml.safe_load(files["rules/service-meetings-media.rules.yml"])["groups"][0]["rules"]
        if r.get("alert") == c.SERVICE_BELOW_FLOOR
    )
    assert rule["expr"].endswith(" < 2") and rule["labels"]["severity"] == "page"  # 4 pods - 2


def test_generation_is_deterministic_and_a_rerun_leaves_exactly_the_current_files(
    tmp_path: Path, project: ProjectCopy
) -> None:
    assert generate(REPO, "dc1") == generate(REPO, "dc1")
    folder = tmp_path / "dc1"
    write_folder(folder, generate(project.root, "dc1"))
    assert (folder / "rules" / "service-telepresence-gateway.rules.yml").exists()
    (project.root / "catalog" / "telepresence-gateway.yaml").unlink()
    project.edit_datacenter("dc1", lambda dc: dc["subnets"].pop("telepresence-gateway"))
    write_folder(folder, generate(project.root, "dc1"))
    assert not (folder / "rules" / "service-telepresence-gateway.rules.yml").exists()
    assert not (folder / "rules" / "service-telepresence-gateway.test.yml").exists()


def test_the_command_writes_every_stack_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for stack in STACKS:
        assert f"{stack}: " in out
        names = {p.relative_to(tmp_path / stack).as_posix() for p in (tmp_path / stack).rglob("*.yml")}
        assert {"prometheus.yml", "alertmanager.yml", "blackbox.yml", "rules/recording.rules.yml"} <= names
        assert not list((tmp_path / stack).rglob("*.partial"))


def test_no_team_may_take_the_watchdogs_receiver_name(project: ProjectCopy) -> None:
    project.edit_datacenter(
        "dc1",
        lambda dc: dc["monitoring"]["receivers"].__setitem__(
            "watchdog", {"pagerduty": {"routing_key_file": "/etc/x"}}
        ),
    )
    with pytest.raises(CatalogError, match=r"monitoring.receivers: .*'watchdog' is the watchdog's receiver"):
        load_deployment(project.root, "dc1")


SHORT = {
    "probe_interval_s": 2,
    "pod_not_serving_s": 20,
    "below_floor_s": 10,
    "notify_wait_s": 1,
    "notify_interval_s": 5,
}


def _alert_rule(files: dict[str, str], path: str, name: str) -> dict[str, Any]:
    return next(r for r in documents(files, path)["groups"][0]["rules"] if r.get("alert") == name)


def test_the_stack_files_timing_sets_probes_alert_delays_and_notification_delays(
    project: ProjectCopy,
) -> None:
    defaults = generate(REPO, "dc1")
    project.edit_datacenter("dc1", lambda dc: dc["monitoring"].__setitem__("timing", SHORT))
    files = generate(project.root, "dc1")
    for generated, (interval, pod_for, floor_for, wait, group) in (
        (defaults, ("15s", "3m", "2m", "30s", "5m")),
        (files, ("2s", "20s", "10s", "1s", "5s")),
    ):
        prometheus = documents(generated, "prometheus.yml")
        settings = prometheus["global"]
        assert settings["scrape_interval"] == settings["evaluation_interval"] == interval
        probe = next(j for j in prometheus["scrape_configs"] if j["job_name"] == "probe-messaging-app")
        # The probe keeps its whole timeout and a second more: 2 s checks are probed every 3 s, not 2.
        assert probe["scrape_interval"] == ("15s" if interval == "15s" else "3s")
        assert _alert_rule(generated, "rules/pods.rules.yml", c.POD_NOT_SERVING)["for"] == pod_for
        floor = _alert_rule(generated, "rules/service-messaging.rules.yml", c.SERVICE_BELOW_FLOOR)
        assert floor["for"] == floor_for
        route = documents(generated, "alertmanager.yml")["route"]
        assert (route["group_wait"], route["group_interval"]) == (wait, group)
    # The other alerts keep their own delays.
    assert _alert_rule(files, "rules/service-messaging.rules.yml", c.INSTANCES_MISSING)["for"] == "10m"


@pytest.mark.parametrize(
    ("timing", "says"),
    [
        ({"probe_interval_s": 15, "pod_not_serving_s": 20}, "pod_not_serving_s must be at least two probe"),
        ({"probe_interval_s": 10, "below_floor_s": 10}, "below_floor_s must be at least two probe intervals"),
        ({"below_floor_s": 3000}, "less than or equal to 1200"),
        ({"probe_interval": 5}, "probe_interval"),
    ],
)
def test_a_timing_that_would_alert_on_one_probe_or_is_unknown_is_refused(
    project: ProjectCopy, timing: dict[str, int], says: str
) -> None:
    project.edit_datacenter("dc1", lambda dc: dc["monitoring"].__setitem__("timing", timing))
    with pytest.raises(CatalogError) as caught:
        load_deployment(project.root, "dc1")
    rendered = str(caught.value)
    assert "stacks/Pulumi.dc1.yaml: config.webex-cloud:datacenter.monitoring.timing" in rendered, rendered
    assert says in rendered, rendered
