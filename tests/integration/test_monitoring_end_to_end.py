"""The generated monitoring of dc1 run by Debian's real Prometheus 2.42, Alertmanager 0.25 and blackbox
exporter 0.23 (tools/monitoring/install.sh), discovering the stack's instances through the loopback's
Nova, probing them, and telling their owner (issue 24's proof on the loopback).

What runs is what ``python -m webex_cloud monitoring --stack dc1`` writes (``generate``), unedited, for a
copy of the project whose stack file differs from the example's only where the loopback needs it:

- the catalog is cut to messaging (one pod of 2 app + 1 store) and telepresence-gateway (2 pods of one
  gateway): 5 instances (few, to boot and delete them in seconds on the loopback);
- the management network is 127.0.60.0/24: the controllers (whose API ports answer on 127.0.60.11/.12),
  the VIP and the proxies, and the monitoring pair the stack deploys, 127.0.60.15 and 127.0.60.16. Each
  node runs what its generated user data installs (``node.pair_user_data``): the shipped files in a
  folder of its own, Prometheus and Alertmanager with the flags of the node's ``/etc/default`` files
  (``--web.enable-lifecycle``; the Alertmanager cluster's advertised address and partner), on the
  node's address: Prometheus :9090, Alertmanager :9093 and its gossip :9094 (bound to the node's
  address, where production listens on 0.0.0.0, which two nodes on one machine cannot). One blackbox
  exporter serves both nodes (on each node's :9115 and on 127.0.0.1:9115, the node-local address every
  probe job sends its probes to: one machine has one 127.0.0.1);
- every receiver, the watchdog's too, is a webhook on 127.0.0.1 (``/<receiver>``) with its bearer token
  in a ``credentials_file`` the test writes (the deploy places them from Pulumi secrets on a real node);
- ``monitoring.timing`` is short (the product's knob, docs/monitoring.md): 3 s probes, PodNotServing after
  20 s, the release-floor page after 10 s, Alertmanager's ``group_wait`` 1 s and ``group_interval`` 5 s.

The cloud differs from production in one way: each service network ``dc1-<service>`` has a subnet on
127.0.6x.0/24 (DHCP off) instead of the plan's 10.x one. Every instance is booted by Nova on a port with
its fixed IP there, with the plan's name and metadata, in a project of the test's own; the loopback's
compute driver leaves the ports unbound (no Neutron agent runs), and Nova reports the fixed IPs under
``addresses`` as for any server (tools/openstack-loopback/nova_driver). So Prometheus' OpenStack SD,
authenticating as a reader's application credential through the environment the product writes
(``monitoring.secrets.reader_env``), reads Nova and Neutron and finds the instances at 127.0.6x.y, where a
responder per instance answers its health check port: no relabelling is added, nothing targets 10.x
(the generated files are checked for any address outside 127.0.0.0/8 before anything starts). Two
decoys, one with dc2's metadata and one of dc1 on another network, are discovered and dropped.

Measured and reported: time from a pod's responders stopping to its owner's webhook receiving the alert,
the share of the stack's instances scraped by each node, the notifications counted (one per alert
although both Prometheus send to both Alertmanagers), the alerts Alertmanager routed to no owner or to
another owner's receiver, the rule reload one node at a time with a node evaluating at every look, and
the time to the page with one node's Prometheus and the other's Alertmanager killed.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import shlex
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import openstack
import pytest
import yaml

from tests.conftest import ProjectCopy
from tests.integration.conftest import (
    CLOUD,
    CLOUDS_YAML,
    Cleanup,
    ensure_flavor,
    ensure_image,
    scoped_project,
    wait_for,
)
from tests.integration.serving import Instance, Listener
from tests.monitoring.tools import boot_files, require
from webex_cloud import naming
from webex_cloud.commands.monitoring import generate, write_folder
from webex_cloud.config.loader import load_deployment
from webex_cloud.config.models import WATCHDOG_RECEIVER
from webex_cloud.facts import metrics
from webex_cloud.monitoring import contract as c
from webex_cloud.monitoring import node as monitoring_node
from webex_cloud.monitoring.secrets import reader_env
from webex_cloud.monitoring_ops import reload
from webex_cloud.plan.document import render_plan
from webex_cloud.plan.format import INSTANCE

STACK = "dc1"
STACK_FILE = f"stacks/Pulumi.{STACK}.yaml"
PREFIX = "i24-"
KEPT = ("messaging", "telepresence-gateway")
WATCHED = "telepresence-gateway"
"""The service whose pods are stopped: 2 pods, release floor 1."""
SUBNETS = {"messaging": "127.0.61.0/24", "telepresence-gateway": "127.0.62.0/24"}
ELSEWHERE = "127.0.63.0/24"
"""A network that is no service's: an instance of dc1 on it is not probed."""
MANAGEMENT = "127.0.60.0/24"
VIP = "127.0.60.10"
CONTROLLERS = ("127.0.60.11", "127.0.60.12")
PROXIES = ("127.0.60.13", "127.0.60.14")
NODES = ("127.0.60.15", "127.0.60.16")
"""The pair's ``monitoring.nodes``."""
PEER_TIMEOUT_S = 15
"""Alertmanager 0.25's default ``--cluster.peer-timeout``, which the generated flags keep: the second
notifier of the pair waits this long, then sends only what the first did not (monitoring/node.py)."""
TIMING = {
    "probe_interval_s": 3,
    "pod_not_serving_s": 20,
    "below_floor_s": 10,
    "notify_wait_s": 1,
    "notify_interval_s": 5,
}
PROBE_S = 3
"""The probe jobs' interval: the catalog's checks time out after 2 s, and a probe gets that and 1 s more."""
BUDGET_S = 240


@dataclass
class Delivery:
    receiver: str
    at: float
    authorization: str
    body: dict[str, Any]


@dataclass
class Webhook:
    """Every receiver's URL: records what Alertmanager POSTs to ``/<receiver>``."""

    url: str
    deliveries: list[Delivery] = field(default_factory=list)

    def alerts(self, name: str, status: str, **labels: str) -> list[tuple[Delivery, dict[str, Any]]]:
        return [
            (delivery, alert)
            for delivery in list(self.deliveries)
            for alert in delivery.body["alerts"]
            if alert["labels"]["alertname"] == name
            and alert["status"] == status
            and all(alert["labels"].get(k) == v for k, v in labels.items())
        ]


@contextlib.contextmanager
def webhook() -> Iterator[Webhook]:
    recorded: list[Delivery] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            recorded.append(
                Delivery(self.path.strip("/"), time.monotonic(), self.headers.get("Authorization", ""), body)
            )
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True)
    thread.start()
    try:
        yield Webhook(f"http://127.0.0.1:{server.server_port}", recorded)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.loads(answer.read())


def query(prometheus: str, promql: str) -> list[dict[str, Any]]:
    document = get_json(f"{prometheus}/api/v1/query?{urllib.parse.urlencode({'query': promql})}")
    return list(document["data"]["result"])


@contextlib.contextmanager
def running(
    name: str, argv: list[str], folder: Path, ready: str, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """One of the Debian binaries, ready (``ready`` answers 200), stopped at the end whatever happens."""
    log = folder / f"{name}.log"
    with (
        log.open("wb") as sink,
        subprocess.Popen(
            argv, stdout=sink, stderr=subprocess.STDOUT, env=env or {"PATH": os.environ["PATH"]}
        ) as process,
    ):
        try:
            deadline = time.monotonic() + 30
            while True:
                assert process.poll() is None, f"{name} exited: {log.read_text()[-2000:]}"
                assert time.monotonic() < deadline, f"{name} not ready: {log.read_text()[-2000:]}"
                try:
                    with urllib.request.urlopen(ready, timeout=2) as answer:
                        if answer.status == 200:
                            break
                except OSError:
                    time.sleep(0.2)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def loopback_stack(project: ProjectCopy, hook: str, secrets: Path) -> None:
    """The example project cut and pointed at the loopback as the module docstring says."""
    for path in (project.root / "catalog").glob("*.yaml"):
        if path.stem not in KEPT:
            path.unlink()

    def messaging(doc: dict[str, Any]) -> None:
        doc["pods"]["count"] = 1
        doc["volume_groups"][0]["replicas"] = 1

    project.edit("catalog/messaging.yaml", messaging)

    def webhook_receiver(name: str) -> dict[str, Any]:
        token = secrets / f"{name}.token"
        token.write_text(f"fake-token-{name}\n")
        token.chmod(0o600)
        return {"webhook": {"url": f"{hook}/{name}", "credentials_file": str(token)}}

    def datacenter(dc: dict[str, Any]) -> None:
        controllers = dc["controllers"]
        controllers["management"]["cidr"] = MANAGEMENT
        controllers["vip"] = VIP
        for host, address in zip(controllers["hosts"], CONTROLLERS, strict=True):
            host["address"] = address
        controllers["proxies"]["addresses"] = list(PROXIES)
        monitoring = dc["monitoring"]
        monitoring.pop("logs")
        monitoring["nodes"] = list(NODES)
        monitoring["timing"] = TIMING
        monitoring["receivers"] = {name: webhook_receiver(name) for name in monitoring["receivers"]}
        monitoring["watchdog"] = webhook_receiver(WATCHDOG_RECEIVER)

    project.edit_datacenter(STACK, datacenter)


def only_loopback(files: dict[str, str]) -> None:
    """Nothing Prometheus, Alertmanager or the exporter would contact is outside 127.0.0.0/8."""
    for name in ("prometheus.yml", "alertmanager.yml", "blackbox.yml"):
        for literal in re.findall(r"\b\d{1,3}(?:\.\d{1,3}){3}\b", files[name]):
            assert ipaddress.ip_address(literal).is_loopback, f"{name} names {literal}"


@dataclass
class PairNode:
    """One node of the pair as run here: its Prometheus and Alertmanager reading a folder of their own."""

    address: str
    folder: Path
    prometheus: subprocess.Popen[bytes]
    alertmanager: subprocess.Popen[bytes]

    @property
    def prometheus_url(self) -> str:
        return f"http://{self.address}:{metrics.PROMETHEUS_PORT}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://{self.address}:{c.ALERTMANAGER_PORT}"

    def reload_target(self) -> reload.Node:
        return reload.Node(self.prometheus_url, self.folder, self.alertmanager_url)


@dataclass
class Stack:
    """The stack's instances on Nova, each with its responder, and the monitoring pair watching them."""

    instances: dict[str, Instance]
    """Nova name -> its responder."""
    pods: dict[str, list[str]]
    """Pod -> its instances' Nova names."""
    decoys: list[str]
    nodes: list[PairNode]
    hook: Webhook
    alerts_seen: list[tuple[float, tuple[str, str, str]]] = field(default_factory=list)
    """(when, (alertname, pod or service, state)) of every look at Prometheus' alerts."""

    def shown(self, key: tuple[str, str, str], after: float) -> float:
        """When Prometheus first showed ``key`` after ``after``."""
        return min(at for at, seen in list(self.alerts_seen) if seen == key and at >= after)

    def quiet(self) -> bool:
        """No alert about a pod or a service is pending or firing at the last look. (The monitoring's own
        pending alerts stay: no node_exporter serves the placement facts here.)"""
        last = max((at for at, _ in self.alerts_seen), default=0.0)
        about = [key[1] for at, key in list(self.alerts_seen) if at == last]
        return last > 0 and not [what for what in about if what.startswith(KEPT)]

    routed: dict[str, tuple[dict[str, str], list[str]]] = field(default_factory=dict)
    """Alertmanager's fingerprint -> (labels, receivers) of every alert either Alertmanager held."""


def default_args(written: dict[str, str], unit: str) -> list[str]:
    """The flags a node's ``/etc/default/<unit>`` gives Debian's unit (``ExecStart=<binary> $ARGS``)."""
    (line,) = written[f"{monitoring_node.STAGING}/default/{unit}"].splitlines()
    (value,) = shlex.split(line.removeprefix("ARGS="))
    return value.split()


def probe_ports(files: dict[str, str]) -> dict[tuple[str, str], int]:
    """(service, role) -> the health check port its probe job discovers the instances at."""
    jobs = yaml.safe_load(files["prometheus.yml"])["scrape_configs"]
    return {
        (service, role): job["openstack_sd_configs"][0]["port"]
        for job in jobs
        for service in KEPT
        for role in ("app", "store", "gateway")
        if job["job_name"] == metrics.probe_job(service, role)
    }


def controller_targets(files: dict[str, str]) -> list[str]:
    jobs = yaml.safe_load(files["prometheus.yml"])["scrape_configs"]
    (job,) = [j for j in jobs if j["job_name"] == c.CONTROLLER_JOB]
    return [target for group in job["static_configs"] for target in group["targets"]]


def boot_on_port(
    conn: Any, name: str, on: tuple[Any, Any], address: str, metadata: dict[str, str], flavor: Any, image: Any
) -> Any:
    """A server booted by Nova on a port with a fixed IP, as the stack's instances are."""
    network, subnet = on
    port = conn.network.create_port(
        network_id=network.id, name=name, fixed_ips=[{"subnet_id": subnet.id, "ip_address": address}]
    )
    return conn.compute.create_server(
        name=name, flavor_id=flavor.id, image_id=image.id, networks=[{"port": port.id}], metadata=metadata
    )


def purge(conn: Any) -> None:
    """The test project's ports, then its servers (waited for) and networks. The ports go first: Nova
    forgets a deleted port at once (Neutron's ``network-vif-deleted``), where unbinding a port left to
    the server's deletion took the loopback's Nova 32 s a server."""
    started = time.monotonic()
    project = conn.current_project_id
    for port in list(conn.network.ports(project_id=project)):
        conn.network.delete_port(port, ignore_missing=True)
    for server in list(conn.compute.servers()):
        conn.compute.delete_server(server, ignore_missing=True)
    wait_for("the servers to go", lambda: None if list(conn.compute.servers()) else True, timeout=180)
    for network in list(conn.network.networks(project_id=project)):
        conn.network.delete_network(network, ignore_missing=True)
    print(f"\nservers, ports and networks deleted in {time.monotonic() - started:.0f} s")


def alert_keys(prometheus: str) -> list[tuple[str, str, str]]:
    """(alertname, pod or service, state) of every alert ``prometheus``' rules hold."""
    return [
        (
            alert["labels"]["alertname"],
            alert["labels"].get(c.LABEL_POD, alert["labels"].get(c.LABEL_SERVICE, "")),
            alert["state"],
        )
        for alert in get_json(f"{prometheus}/api/v1/alerts")["data"]["alerts"]
    ]


def watch_alerts(stack: Stack, stop: threading.Event) -> None:
    """Twice a second: what each live node's rules say, and where its Alertmanager routes what it holds.
    (A node killed by the test stops answering: what the other says is what is seen.)"""
    while not stop.wait(0.5):
        now = time.monotonic()
        seen: set[tuple[str, str, str]] = set()
        answered = False
        for node in stack.nodes:
            with contextlib.suppress(OSError):
                seen.update(alert_keys(node.prometheus_url))
                answered = True
            with contextlib.suppress(OSError):
                for alert in get_json(f"{node.alertmanager_url}/api/v2/alerts"):
                    stack.routed[alert["fingerprint"]] = (
                        alert["labels"],
                        sorted(r["name"] for r in alert["receivers"]),
                    )
        if answered:
            stack.alerts_seen.append((now, ("", "", "")))
            stack.alerts_seen.extend((now, key) for key in sorted(seen))


@pytest.fixture
def stack(openstack_conn: Any, cleanup: Cleanup, project: ProjectCopy, tmp_path: Path) -> Iterator[Stack]:
    require("prometheus", "prometheus-alertmanager", "prometheus-blackbox-exporter")
    admin = openstack_conn
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700)
    with contextlib.ExitStack() as stop:
        hook = stop.enter_context(webhook())
        loopback_stack(project, hook.url, secrets)
        plan = render_plan(STACK, project_dir=project.root)
        files = generate(project.root, STACK)
        only_loopback(files)
        folder = tmp_path / "monitoring"
        write_folder(folder, files)

        scoped = scoped_project(admin, cleanup, f"{PREFIX}monitoring", {"reader": ["reader"]})
        conn = scoped.conn
        flavor = ensure_flavor(admin)
        image = cleanup.image(ensure_image(conn, f"{PREFIX}tiny"))
        cleanup.actions.append(lambda: purge(conn))
        networks: dict[str, tuple[Any, Any, Any]] = {}
        for service, cidr in [*SUBNETS.items(), ("elsewhere", ELSEWHERE)]:
            network = conn.network.create_network(name=naming.cloud_name(STACK, service))
            subnet = conn.network.create_subnet(
                network_id=network.id, cidr=cidr, ip_version=4, is_dhcp_enabled=False, gateway_ip=None
            )
            networks[service] = (network, subnet, ipaddress.ip_network(cidr))

        instances: dict[str, Instance] = {}
        pods: dict[str, list[str]] = {}
        servers = []
        inputs = {r["urn"]: r["inputs"] for r in plan["resources"] if r["type"] == INSTANCE}
        ports = probe_ports(files)
        for service in KEPT:
            network, subnet, block = networks[service]
            urns = [urn for pod in plan["services"][service]["pods"] for urn in pod["instances"]]
            for host, urn in enumerate(urns, start=10):
                name, metadata = inputs[urn]["name"], inputs[urn]["metadata"]
                address = str(block[host])
                instances[name] = Instance(address, ports[service, metadata[c.LABEL_ROLE]])
                pods.setdefault(metadata[c.LABEL_POD], []).append(name)
                servers.append(boot_on_port(conn, name, (network, subnet), address, metadata, flavor, image))
        # Decoys: the watched service's metadata of another datacenter, and an instance of dc1 on a network
        # that is no service's.
        model = inputs[plan["services"][WATCHED]["pods"][0]["instances"][0]]["metadata"]
        decoys = {
            f"{PREFIX}decoy-dc2": (WATCHED, {**model, c.LABEL_DATACENTER: "dc2"}),
            f"{PREFIX}decoy-elsewhere": ("elsewhere", model),
        }
        for name, (where, metadata) in decoys.items():
            network, subnet, block = networks[where]
            servers.append(
                boot_on_port(conn, name, (network, subnet), str(block[99]), metadata, flavor, image)
            )
        booting = time.monotonic()
        for server in servers:
            done = conn.compute.wait_for_server(server, status="ACTIVE", failures=["ERROR"], wait=180)
            assert done.addresses, (
                f"{done.name} has no address: the loopback's computes bind ports (run "
                "`bash tools/openstack-loopback/up.sh` from this checkout, whose driver leaves them unbound)"
            )

        print(f"\n{len(servers)} servers booted on their ports in {time.monotonic() - booting:.0f} s")
        for instance in instances.values():
            instance.set_serving(True)
            stop.callback(instance.set_serving, False)
        for target in controller_targets(files):
            address, port = target.rsplit(":", 1)
            stop.callback(Listener(address, int(port)).stop)

        reader_name, password = scoped.users["reader"]
        auth_url = yaml.safe_load(CLOUDS_YAML.read_text())["clouds"][CLOUD]["auth"]["auth_url"]
        reader: Any = openstack.connect(
            auth_url=auth_url,
            username=reader_name,
            password=password,
            project_id=scoped.project.id,
            user_domain_id="default",
            region_name="RegionOne",
        )
        credential = reader.identity.create_application_credential(
            user=reader.current_user_id, name=f"{PREFIX}prometheus"
        )
        reader.close()
        environment = reader_env(
            f"OS_AUTH_URL={auth_url}\nOS_APPLICATION_CREDENTIAL_ID={credential.id}\n"
            f"OS_APPLICATION_CREDENTIAL_SECRET={credential.secret}\nOS_AUTH_TYPE=v3applicationcredential\n",
            "RegionOne",
            STACK_FILE,
        )
        env = {"PATH": os.environ["PATH"], **dict(line.split("=", 1) for line in environment.splitlines())}

        listen = [f"--web.listen-address={address}:{c.BLACKBOX_PORT}" for address in NODES]
        stop.enter_context(
            running(
                "blackbox",
                [
                    "prometheus-blackbox-exporter",
                    f"--config.file={folder / 'blackbox.yml'}",
                    f"--web.listen-address={c.BLACKBOX_LOCAL}",
                    *listen,
                ],
                tmp_path,
                f"http://{c.BLACKBOX_LOCAL}/-/healthy",
            )
        )
        nodes = []
        booted = monitoring_node.pair_user_data(load_deployment(project.root, STACK), STACK_FILE)
        for index, (address, user_data) in enumerate(zip(NODES, booted, strict=True)):
            written = boot_files(user_data)
            node_folder = tmp_path / f"node-{index}"
            staged = f"{monitoring_node.STAGING}/prometheus/"
            write_folder(
                node_folder,
                {
                    path.removeprefix(staged): text
                    for path, text in written.items()
                    if path.startswith(staged)
                },
            )
            manager = stop.enter_context(
                running(
                    f"alertmanager-{index}",
                    [
                        "prometheus-alertmanager",
                        f"--config.file={node_folder / 'alertmanager.yml'}",
                        f"--storage.path={tmp_path / f'alertmanager-{index}'}",
                        f"--web.listen-address={address}:{c.ALERTMANAGER_PORT}",
                        f"--cluster.listen-address={address}:{monitoring_node.CLUSTER_PORT}",
                        *default_args(written, "prometheus-alertmanager"),
                    ],
                    tmp_path,
                    f"http://{address}:{c.ALERTMANAGER_PORT}/-/ready",
                )
            )
            prometheus = stop.enter_context(
                running(
                    f"prometheus-{index}",
                    [
                        "prometheus",
                        f"--config.file={node_folder / 'prometheus.yml'}",
                        f"--storage.tsdb.path={tmp_path / f'prometheus-{index}'}",
                        f"--web.listen-address={address}:{metrics.PROMETHEUS_PORT}",
                        *default_args(written, "prometheus"),
                    ],
                    tmp_path,
                    f"http://{address}:{metrics.PROMETHEUS_PORT}/-/ready",
                    env,
                )
            )
            nodes.append(PairNode(address, node_folder, prometheus, manager))
        live = Stack(instances, pods, sorted(decoys), nodes, hook)
        halt = threading.Event()
        watcher = threading.Thread(target=watch_alerts, args=(live, halt), daemon=True)
        watcher.start()
        stop.callback(watcher.join)
        stop.callback(halt.set)
        yield live


def first(
    stack: Stack, what: str, name: str, status: str, timeout: float, after: float = 0.0, **labels: str
) -> Delivery:
    """The first notification of ``name`` with ``status`` and ``labels`` the webhook received after
    ``after``."""

    def received() -> Delivery | None:
        found = [d for d, _ in stack.hook.alerts(name, status, **labels) if d.at >= after]
        return found[0] if found else None

    return wait_for(what, received, timeout=timeout)


def serving(stack: Stack, pod: str, serve: bool) -> float:
    for name in stack.pods[pod]:
        stack.instances[name].set_serving(serve)
    return time.monotonic()


def alertmanager_metric(node: PairNode, name: str) -> float:
    with urllib.request.urlopen(f"{node.alertmanager_url}/metrics", timeout=5) as answer:
        lines = answer.read().decode().splitlines()
    return next(float(line.split(" ")[1]) for line in lines if line.startswith(f"{name} "))


def evaluated_at(node: PairNode) -> float:
    """When the node's rules were last evaluated (wall clock): the latest of its groups."""
    with urllib.request.urlopen(f"{node.prometheus_url}/metrics", timeout=2) as answer:
        lines = answer.read().decode().splitlines()
    stamp = "prometheus_rule_group_last_evaluation_timestamp_seconds{"
    return max(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith(stamp))


@dataclass
class Look:
    """One look at both nodes during the reload: which answered with the page firing and rules evaluated
    within two intervals."""

    at: float
    watching: list[str]


def reload_watched(
    stack: Stack, files: dict[str, str], page: tuple[str, str, str]
) -> tuple[list[str], list[Look]]:
    """``reload_pair`` (check, then one node at a time, read back) onto the running pair, looking at both
    nodes four times a second meanwhile."""
    looks: list[Look] = []
    done = threading.Event()

    def look() -> None:
        while not done.wait(0.25):
            watching = []
            for node in stack.nodes:
                with contextlib.suppress(OSError):
                    fresh = time.time() - evaluated_at(node) <= 2 * PROBE_S
                    if fresh and page in alert_keys(node.prometheus_url):
                        watching.append(node.address)
            looks.append(Look(time.monotonic(), watching))

    looker = threading.Thread(target=look, daemon=True)
    looker.start()
    try:
        lines = reload.reload_pair([node.reload_target() for node in stack.nodes], files)
    finally:
        done.set()
        looker.join()
    return lines, looks


def firing_pods(delivery: Delivery) -> set[str]:
    return {
        alert["labels"][c.LABEL_POD]
        for alert in delivery.body["alerts"]
        if alert["labels"]["alertname"] == c.POD_NOT_SERVING and alert["status"] == "firing"
    }


def test_the_pair_discovers_tells_each_owner_once_reloads_and_survives_a_lost_node(
    stack: Stack, project: ProjectCopy
) -> None:
    started = time.monotonic()
    expected = sorted(stack.instances)
    probes = f'job=~"{metrics.PROBE_JOB_PREFIX}.+"'

    # Discovery through Nova, by each node: exactly the stack's instances, every one probed and serving.
    for node in stack.nodes:

        def all_serving(prometheus: str = node.prometheus_url) -> list[dict[str, Any]] | None:
            found = query(prometheus, f"{metrics.PROBE_SUCCESS}{{{probes}}}")
            names = sorted(r["metric"][metrics.LABEL_INSTANCE] for r in found)
            ok = names == expected and all(r["value"][1] == "1" for r in found)
            return found if ok else None

        probed = wait_for(f"every instance discovered and serving at {node.address}", all_serving, timeout=60)
        targets = get_json(f"{node.prometheus_url}/api/v1/targets")["data"]
        active = [
            t for t in targets["activeTargets"] if t["labels"]["job"].startswith(metrics.PROBE_JOB_PREFIX)
        ]
        assert sorted(t["labels"][metrics.LABEL_INSTANCE] for t in active) == expected
        assert all(t["health"] == "up" for t in active), [t["lastError"] for t in active]
        for target in active:  # each probed at its own fixed IP on 127.0.6x, through the local exporter
            name = target["labels"][metrics.LABEL_INSTANCE]
            instance = stack.instances[name]
            probe = urllib.parse.parse_qs(urllib.parse.urlparse(target["scrapeUrl"]).query)
            assert probe["target"] == [f"{instance.address}:{instance.port}"], target
            assert target["scrapeUrl"].startswith(f"http://{c.BLACKBOX_LOCAL}/probe?"), target
        dropped = {t["discoveredLabels"].get(c.META_INSTANCE_NAME) for t in targets["droppedTargets"]}
        assert set(stack.decoys) <= dropped, "the decoys were not discovered (and dropped)"
        assert len(probed) / len(expected) == 1.0
    scraped = 1.0
    # The generated flags made one cluster of the two Alertmanagers, each at its own position.
    wait_for(
        "the Alertmanagers gossiping as one cluster",
        lambda: (
            True
            if all(alertmanager_metric(n, "alertmanager_cluster_members") == 2 for n in stack.nodes)
            else None
        ),
        timeout=30,
    )
    positions = sorted(alertmanager_metric(n, "alertmanager_peer_position") for n in stack.nodes)
    assert positions == [0, 1], positions
    help_text = subprocess.run(
        ["prometheus-alertmanager", "--help"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    ).stdout
    assert f"--cluster.peer-timeout={PEER_TIMEOUT_S}s" in help_text  # the window waited for below
    # Until the first probes came in, no pod served (nothing discovered counts as nothing serving): with
    # a 10 s page, the release floor may have paged at the start. The story starts once all is quiet.
    wait_for("no alert about a pod or a service", lambda: True if stack.quiet() else None, timeout=60)

    # One pod stops: PodNotServing fires and reaches its owner's receiver, with its bearer token.
    pods = sorted(p for p in stack.pods if p.startswith(f"{WATCHED}-"))
    assert len(pods) == 2
    owner = "team-telepresence"
    stopped = serving(stack, pods[0], False)
    told = first(stack, "PodNotServing delivered", c.POD_NOT_SERVING, "firing", 90, stopped, pod=pods[0])
    fired = stack.shown((c.POD_NOT_SERVING, pods[0], "firing"), stopped)
    assert told.receiver == owner and told.authorization == f"Bearer fake-token-{owner}"
    pod_for = TIMING["pod_not_serving_s"]
    # The first failed probe comes within one probe interval; the recording rule and the alert are
    # evaluated in their own groups, each once per interval: at most three intervals past the `for:`.
    assert fired - stopped <= pod_for + 3 * PROBE_S + 2, fired - stopped
    assert told.at - fired <= TIMING["notify_wait_s"] + 3, told.at - fired

    # A second pod stops: the release floor pages the owner.
    second = serving(stack, pods[1], False)
    paged = first(
        stack,
        "ServiceBelowReleaseFloor delivered",
        c.SERVICE_BELOW_FLOOR,
        "firing",
        90,
        second,
        service=WATCHED,
    )
    page_key = (c.SERVICE_BELOW_FLOOR, WATCHED, "firing")
    page_fired = stack.shown(page_key, second)
    assert paged.receiver == owner
    (page,) = [a for a in paged.body["alerts"] if a["labels"]["alertname"] == c.SERVICE_BELOW_FLOOR]
    assert page["labels"]["severity"] == c.SEVERITY_PAGE
    assert page_fired - second <= TIMING["below_floor_s"] + 3 * PROBE_S + 2, page_fired - second

    # A rule change (every alert's runbook link moves) reaches the pair one node at a time while the
    # page fires: at every look, some node answered with its rules evaluated and the page firing.
    runbooks = "https://git.ops.example/webex/webex-cloud/blob/next/docs"
    project.edit_datacenter(STACK, lambda dc: dc["monitoring"].update(runbooks=runbooks))
    changed = generate(project.root, STACK)
    only_loopback(changed)
    reloading = time.monotonic()
    lines, looks = reload_watched(stack, changed, page_key)
    reload_s = time.monotonic() - reloading
    order = [line.split(": ")[0] for line in lines if line.startswith(("reloaded", "verified"))]
    first_node, second_node = (node.prometheus_url for node in stack.nodes)
    assert order[0] == f"reloaded {first_node}" and order[3] == f"reloaded {second_node}", lines
    assert looks and all(look.watching for look in looks), [(look.at, look.watching) for look in looks]
    both = sum(len(look.watching) == 2 for look in looks)
    # The new annotations are written at each node's next evaluation of the rule.
    for node in stack.nodes:

        def new_runbook(prometheus: str = node.prometheus_url) -> bool | None:
            shown = get_json(f"{prometheus}/api/v1/alerts")["data"]["alerts"]
            (now_page,) = [a for a in shown if a["labels"]["alertname"] == c.SERVICE_BELOW_FLOOR]
            assert now_page["state"] == "firing", now_page
            return True if now_page["annotations"]["runbook_url"].startswith(runbooks) else None

        wait_for(f"the new runbook link at {node.address}", new_runbook, timeout=3 * PROBE_S)

    # One notification of the pod's outage, though both Prometheus sent it to both Alertmanagers: the
    # second notifier waits its position times the peer timeout, then finds the first one's entry in the
    # gossiped notification log. Counted once that window (and one group interval) is past.
    window = PEER_TIMEOUT_S + TIMING["notify_interval_s"] + 2
    time.sleep(max(0.0, told.at + window - time.monotonic()))
    counted = time.monotonic()
    pod_told = [d for d in list(stack.hook.deliveries) if d.at >= stopped and firing_pods(d) == {pods[0]}]
    assert len(pod_told) == 1, [(d.at - stopped, d.body["alerts"]) for d in pod_told]
    # No resolved page while the nodes reloaded: the alert's state survived both reloads.
    assert not [
        d for d, _ in stack.hook.alerts(c.SERVICE_BELOW_FLOOR, "resolved", service=WATCHED) if d.at >= second
    ]

    # Both start again: the page and the pod alert are resolved at the owner's receiver.
    restarted = serving(stack, pods[0], True)
    serving(stack, pods[1], True)
    resolved = first(
        stack, "the page resolved", c.SERVICE_BELOW_FLOOR, "resolved", 60, restarted, service=WATCHED
    )
    pod_resolved = first(
        stack, "PodNotServing resolved", c.POD_NOT_SERVING, "resolved", 60, restarted, pod=pods[0]
    )
    assert resolved.receiver == pod_resolved.receiver == owner

    # One node's Prometheus and the other's Alertmanager are lost: the surviving Prometheus sends to the
    # surviving Alertmanager across the pair, and the next outage still pages the owner.
    for process in (stack.nodes[1].prometheus, stack.nodes[0].alertmanager):
        process.kill()
        process.wait()
    lost_wall = time.time()
    lost = serving(stack, pods[0], False)
    serving(stack, pods[1], False)

    def since_lost(alert: dict[str, Any]) -> bool:
        """Whether ``alert`` is the new outage's: the waiting Alertmanager may still deliver the old
        page, flushed before it resolved, once its peer timeout is over."""
        return datetime.fromisoformat(alert["startsAt"]).timestamp() >= lost_wall

    def new_page() -> Delivery | None:
        found = [
            delivery
            for delivery, alert in stack.hook.alerts(c.SERVICE_BELOW_FLOOR, "firing", service=WATCHED)
            if delivery.at >= lost and since_lost(alert)
        ]
        return found[0] if found else None

    survived = wait_for("the new page delivered by what is left of the pair", new_page, timeout=90)
    stale = [
        d
        for d, a in stack.hook.alerts(c.SERVICE_BELOW_FLOOR, "firing", service=WATCHED)
        if d.at >= lost and not since_lost(a)
    ]
    assert survived.receiver == owner
    # At most one peer timeout more than a whole pair takes (the survivor may still count the lost
    # partner ahead of it until gossip declares it dead).
    survived_s = survived.at - lost
    assert survived_s <= TIMING["below_floor_s"] + 3 * PROBE_S + 2 + PEER_TIMEOUT_S + 3, survived_s

    # The watchdog reaches its own receiver. Its first send, at Prometheus' first evaluation, may come
    # before the notifier has its Alertmanager (prometheus_notifications_dropped_total); a firing alert
    # is sent again after --rules.alert.resend-delay, 1 minute.
    first(stack, "the watchdog delivered", c.WATCHDOG, "firing", max(5, 90 - (time.monotonic() - started)))

    # Routing: every alert the Alertmanagers held went to its owner's receiver (the watchdog to its own),
    # and every notification carried only its receiver's alerts. Nothing else fired.
    def destination(labels: dict[str, str]) -> str:
        return WATCHDOG_RECEIVER if labels["alertname"] == c.WATCHDOG else labels.get(c.LABEL_OWNER, "")

    unrouted = sorted(
        {
            labels["alertname"]
            for labels, receivers in stack.routed.values()
            if receivers != [destination(labels)]
        }
        | {
            alert["labels"]["alertname"]
            for delivery in stack.hook.deliveries
            for alert in delivery.body["alerts"]
            if destination(alert["labels"]) != delivery.receiver
        }
    )
    held = sorted({labels["alertname"] for labels, _ in stack.routed.values()})
    assert held == sorted([c.POD_NOT_SERVING, c.SERVICE_BELOW_FLOOR, c.WATCHDOG]), held
    assert not [d for d in stack.hook.deliveries if d.authorization != f"Bearer fake-token-{d.receiver}"]
    elapsed = time.monotonic() - started
    print(
        f"\nissue 24 on the loopback, the pair: {len(expected)} instances, {scraped:.0%} scraped by each "
        f"node ({len(stack.decoys)} decoys discovered and dropped); "
        f"PodNotServing fired {fired - stopped:.1f} s after the pod stopped (for: {pod_for} s, probes every "
        f"{PROBE_S} s), delivered to {owner} after {told.at - stopped:.1f} s, {len(pod_told)} "
        f"notification(s) counted {counted - told.at:.1f} s after the first; "
        f"the release-floor page fired {page_fired - second:.1f} s after the second pod stopped "
        f"(for: {TIMING['below_floor_s']} s), delivered after {paged.at - second:.1f} s; rule reload of "
        f"both nodes in {reload_s:.1f} s, {len(looks)} looks with a node evaluating and paging "
        f"({both} with both); resolved delivered {resolved.at - restarted:.1f} s (page) and "
        f"{pod_resolved.at - restarted:.1f} s (pod) after the restart; with one Prometheus and the other "
        f"Alertmanager killed, the page delivered {survived_s:.1f} s after the pods stopped "
        f"({len(stale)} stale firing of the "
        f"old page after it); "
        f"unrouted alerts: {len(unrouted)}; {len(stack.hook.deliveries)} notifications; "
        f"monitoring phase {elapsed:.0f} s"
    )
    assert unrouted == [], unrouted
