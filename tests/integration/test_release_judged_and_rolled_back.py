"""The whole release judgement on the loopback cloud, against the real Prometheus: a bad image is judged
bad in wave 1 and rolled back by the rollback's own code; a good image passes every wave.

``meetings-media``'s 12 instances (4 pods of 2 mixers and a relay) are real Nova servers. The engine's
steps are simulated as in test_release_rollout.py (each wave's instances rebuilt to the image id the
plan names, ``servers.Rebuild`` then ACTIVE as terraform-provider-openstack v3.4.0 does, then the wave's
gate), but the gates are the plan's own, analysis included: ``run_gate`` waits for the wave to serve,
bakes, and asks Prometheus for the catalog's error ratio, new pods against the pods not yet changed.

Each server has an instance on 127.0.10.x that exists while Nova reports it ACTIVE: a TCP listener on
the health check's port, and a prometheus_client endpoint on the catalog's metrics port serving 200
counted calls a second, every 20th a 500 when the server runs the bad image. Debian's Prometheus 2.42
scrapes them with the generated ``app-meetings-media`` job (its OpenStack discovery stood in for by a
file of the labels the SD reports: tests/release/test_gate_real_prometheus.py). The plan's gates name
dc1's Prometheus nodes and 10.x addresses; they are mapped onto the loopback ones, and their bake is cut
from the catalog's minimum (30 s) to a few seconds: the window the judgement reads is that bake, so the
judgement is the same, only sooner.

The rollback is :func:`webex_cloud.rollback.run.restore` on the last good record of the checkout before
the release (the real decide, materialise, image record, policy check as a subprocess); only its
``pulumi up`` is the simulated engine, run on the folder the rollback materialised.
"""

from __future__ import annotations

import io
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml

from tests.conftest import ProjectCopy
from tests.integration.conftest import Cleanup, boot_server, ensure_flavor, wait_for
from tests.integration.serving import Listener, follow, pods_serving
from tests.monitoring.test_generate import discovered_labels
from tests.release.test_gate_real_prometheus import (
    SCRAPE,
    Responder,
    _discovered_as_file_sd,
    _shared_port,
    running_prometheus,
)
from webex_cloud.commands.monitoring import generate
from webex_cloud.config.holds import HOLDS_FILE
from webex_cloud.config.image_catalog import IMAGE_CATALOG
from webex_cloud.config.image_ids import ENVIRONMENT as IMAGE_IDS
from webex_cloud.config.image_ids import RECORD_FORMAT
from webex_cloud.facts import metrics
from webex_cloud.plan.document import render_plan
from webex_cloud.preview.pulumi_json import load_preview
from webex_cloud.release.probe import GateSpec, run_gate
from webex_cloud.release.rollout import GATE_TYPE
from webex_cloud.rollback.last_good import build as last_good
from webex_cloud.rollback.run import Outcome, decide, hold, restore, run_here

SERVICE = "meetings-media"
OWNER = "team-media"
MEDIA = "catalog/meetings-media.yaml"
PREFIX = "i25-"
OLD, GOOD, BAD = "webex-media-2026.11", "webex-media-2026.12", "webex-media-2026.13"
BAKE_S = 6.0
FAIL_EVERY = 20
"""The bad image fails every 20th call: 5 %."""
INSTANCE = "openstack:compute/instance:Instance"
REQUESTS = 'sum(increase(app_calls_total{job="app-$service",instance=~"$instances"}[$window]))'
ANALYSIS = {
    "bake_s": 60,  # four 15 s scrapes, the least the policy pack accepts; the gates below bake BAKE_S
    "requests": REQUESTS,
    "min_requests": 100,
    "metrics": [
        {
            "name": "error-ratio",
            "query": '(sum(increase(app_calls_total{job="app-$service",code="500",instance=~"$instances"}'
            f"[$window])) or vector(0)) / {REQUESTS}",
            "max": 0.02,
            "max_increase": 0.01,
        }
    ],
}


class Instance:
    """What runs on one server while Nova reports it ACTIVE: its service port and its metrics."""

    def __init__(self, address: str, check_port: int, metrics_port: int) -> None:
        self.address, self.check_port, self.metrics_port = address, check_port, metrics_port
        self.running: tuple[Listener, Responder] | None = None
        self.image = ""

    def become(self, active: bool, image: str, bad_image: str) -> None:
        if self.running is not None and (not active or image != self.image):
            for part in self.running:
                part.stop()
            self.running = None
        if active and self.running is None:
            bad = FAIL_EVERY if image == bad_image else None
            self.running = (
                Listener(self.address, self.check_port),
                Responder(self.address, bad, self.metrics_port),
            )
            self.image = image


@dataclass
class Fleet:
    """The service's servers, their instances kept in step with Nova, and a sampler of who serves."""

    conn: Any
    servers: dict[str, str]
    """Pulumi resource name of the instance -> server id."""
    instances: dict[str, Instance]
    pods: dict[str, list[str]]
    """Pod -> its instances' resource names."""
    bad_image: str = ""
    serving: list[int] = field(default_factory=list)
    """Pods whose every instance answered, at each sampled moment."""
    stop: threading.Event = field(default_factory=threading.Event)

    def watch(self) -> None:
        def become(name: str, server: Any) -> None:
            self.instances[name].become(server.status == "ACTIVE", server.image.id, self.bad_image)

        ids = {server_id: name for name, server_id in self.servers.items()}
        follow(self.conn, ids, become, self.stop, name=f"^{PREFIX}")

    def sample(self) -> None:
        pods = [
            [(self.instances[n].address, self.instances[n].check_port) for n in m] for m in self.pods.values()
        ]
        while not self.stop.wait(0.25):
            self.serving.append(pods_serving(pods))

    def image_of(self, name: str) -> str:
        return str(self.conn.compute.get_server(self.servers[name]).image.id)

    def rebuilds(self, name: str) -> list[str]:
        """The server's rebuild actions, oldest first, as Nova records them (os-instance-actions)."""
        actions = self.conn.compute.server_actions(self.servers[name])
        return sorted(a.start_time for a in actions if a.action == "rebuild")


@dataclass
class Engine:
    """`pulumi up` of a project folder, simulated as in test_release_rollout.py: wave by wave, each
    instance whose planned image id is not the server's is rebuilt, then the wave's gate runs when
    its wave changed or `--replace` names it; the first failed gate ends the update (exit 255)."""

    fleet: Fleet
    prometheus: str
    log: list[str] = field(default_factory=list)
    waves_started: list[tuple[int, float]] = field(default_factory=list)

    def up(self, project: Path, environ: dict[str, str], replace_urns: Sequence[str] = ()) -> int:
        with mock.patch.dict(os.environ, environ):
            plan = render_plan("dc1", project_dir=project)
        wanted = {
            r["name"]: r["inputs"]["imageId"]
            for r in plan["resources"]
            if r["type"] == INSTANCE and r["name"] in self.fleet.servers
        }
        gates = sorted(
            (
                (r["urn"], GateSpec.from_json(r["inputs"]["create"]))
                for r in plan["resources"]
                if r["type"] == GATE_TYPE and r["name"].startswith(f"{SERVICE}-wave-")
            ),
            key=lambda pair: pair[1].wave,
        )
        mapping = {name: i.address for name, i in self.fleet.instances.items()}
        for urn, gate in gates:
            changed = [
                t.instance for t in gate.targets if self.fleet.image_of(t.instance) != wanted[t.instance]
            ]
            if not changed and urn not in replace_urns:
                continue
            self.waves_started.append((gate.wave, time.monotonic()))
            for name in changed:
                self.fleet.conn.compute.rebuild_server(self.fleet.servers[name], image=wanted[name])
            for name in changed:
                _wait_active(self.fleet.conn, self.fleet.servers[name])
            stream = io.StringIO()
            passed = run_gate(self._local(gate), address_map=mapping, deadline_s=60, stream=stream)
            self.log.extend(stream.getvalue().splitlines())
            if not passed:
                return 255
        return 0

    def _local(self, gate: GateSpec) -> GateSpec:
        assert gate.analysis is not None and gate.analysis.declared, "the catalog's analysis is not planned"
        return replace(gate, analysis=replace(gate.analysis, prometheus=(self.prometheus,), bake_s=BAKE_S))

    def runner(self) -> Callable[[Sequence[str], Path], int]:
        """The rollback's Runner: its policy check runs for real; its `pulumi up` is this engine."""

        def run(command: Sequence[str], cwd: Path) -> int:
            args = list(command)
            if "pulumi" not in args:
                return run_here(command, cwd)
            environ = dict(a.split("=", 1) for a in args[1 : args.index("pulumi")])
            replaced = [args[i + 1] for i, a in enumerate(args) if a == "--replace"]
            return self.up(cwd, environ, replaced)

        return run


def _wait_active(conn: Any, server_id: str) -> None:
    def probe() -> bool | None:
        return True if conn.compute.get_server(server_id).status == "ACTIVE" else None

    wait_for(f"{server_id} ACTIVE", probe, timeout=180)


def _release(project: ProjectCopy, image: str) -> None:
    def change(doc: dict[str, Any]) -> None:
        for member in doc["pods"]["members"]:
            member["image"] = image

    project.edit(MEDIA, change)


def _catalog_images(project: ProjectCopy) -> None:
    """The two candidate releases in the image catalog (each rolling back to the running one), offered in
    dc1."""

    def change(doc: dict[str, Any]) -> None:
        (old,) = [e for e in doc["images"] if e["name"] == OLD]
        for name in (GOOD, BAD):
            doc["images"].append({**old, "name": name, "source": old["source"].replace(OLD, name)})
            doc["images"][-1]["previous"] = OLD

    project.edit(IMAGE_CATALOG, change)
    project.edit_datacenter("dc1", lambda dc: dc["images"].extend([GOOD, BAD]))


def _preview(old: dict[str, Any], new: dict[str, Any], path: Path) -> Path:
    """What `pulumi preview --json` shows before the release's `up`: each instance whose image id
    changes is updated (a rebuild), each gate whose spec changes is replaced."""
    before = {r["urn"]: r for r in old["resources"]}
    steps = []
    for resource in new["resources"]:
        was = before.get(resource["urn"])
        if was is None or was["inputs"] == resource["inputs"]:
            continue
        kind = {"oldState": {"type": resource["type"]}, "newState": {"type": resource["type"]}}
        if resource["type"] == INSTANCE:
            diff = {
                k: {"kind": "update"} for k in resource["inputs"] if resource["inputs"][k] != was["inputs"][k]
            }
            steps.append({"op": "update", "urn": resource["urn"], "detailedDiff": diff, **kind})
        elif resource["type"] == GATE_TYPE:
            steps.append({"op": "replace", "urn": resource["urn"], "replaceReasons": ["triggers"], **kind})
    path.write_text(json.dumps({"steps": steps}))
    return path


@pytest.fixture
def world(
    openstack_conn: Any,
    cleanup: Cleanup,
    project: ProjectCopy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Fleet, Engine, dict[str, str]]]:
    """The service running the old image on Nova, scraped by Prometheus; the image names' Glance ids."""
    _catalog_images(project)
    flavor = ensure_flavor(openstack_conn)
    plan = render_plan("dc1", project_dir=project.root)
    names = sorted({OLD, GOOD, BAD, "webex-media-2026.10", "webex-base-2026.11", "webex-store-2026.11"})
    ids = {}
    for name in names:
        image = openstack_conn.image.find_image(PREFIX + name) or openstack_conn.create_image(
            PREFIX + name,
            data=name.encode().ljust(1024, b"\0"),
            disk_format="raw",
            container_format="bare",
            wait=True,
        )
        ids[name] = cleanup.image(image).id
    # What `images --stack dc1` writes once it verified each image in Glance (docs/images.md).
    record = tmp_path / "images-dc1.json"
    entries = [{"name": n, "id": ids[n], "verified": True} for n in names]
    record.write_text(json.dumps({"format": RECORD_FORMAT, "stack": "dc1", "images": entries}))
    monkeypatch.setenv(IMAGE_IDS, str(record))

    gates = [GateSpec.from_json(r["inputs"]["create"]) for r in plan["resources"] if r["type"] == GATE_TYPE]
    targets = [t for g in sorted(gates, key=lambda g: g.wave) if g.service == SERVICE for t in g.targets]
    assert len(targets) == 12
    addresses = [f"127.0.10.{10 + i}" for i in range(len(targets))]
    port = _shared_port(addresses)

    def declare(doc: dict[str, Any]) -> None:
        doc["metrics"] = {"port": port}
        doc.setdefault("rollout", {})["analysis"] = ANALYSIS

    project.edit(MEDIA, declare)
    old_image = openstack_conn.image.get_image(ids[OLD])
    servers = {
        t.instance: cleanup.server(
            boot_server(openstack_conn, PREFIX + t.instance, flavor=flavor, image=old_image, wait=False)
        ).id
        for t in targets
    }
    for server_id in servers.values():
        _wait_active(openstack_conn, server_id)
    pods: dict[str, list[str]] = {}
    for t in targets:
        pods.setdefault(t.pod, []).append(t.instance)
    fleet = Fleet(
        openstack_conn,
        servers,
        {t.instance: Instance(a, t.check.port, port) for t, a in zip(targets, addresses, strict=True)},
        pods,
    )

    # The generated job, its discovery replaced by the labels the SD reports for each instance.
    jobs = yaml.safe_load(generate(project.root, "dc1")["prometheus.yml"])["scrape_configs"]
    (job,) = [j for j in jobs if j["job_name"] == metrics.app_job(SERVICE)]
    sd = tmp_path / "targets.yml"
    sd.write_text(
        yaml.safe_dump(
            [
                {
                    "targets": [f"{address}:{port}"],
                    "labels": {
                        k: v
                        for k, v in discovered_labels(
                            "dc1", SERVICE, OWNER, t.pod, t.role, int(t.instance.rsplit("-", 1)[1])
                        ).items()
                        if k != "__address__"
                    },
                }
                for t, address in zip(targets, addresses, strict=True)
            ]
        )
    )
    config = {
        "global": {"scrape_interval": SCRAPE, "evaluation_interval": SCRAPE},
        "scrape_configs": [_discovered_as_file_sd(job, sd, port)],
    }
    threads = [
        threading.Thread(target=fleet.watch, daemon=True),
        threading.Thread(target=fleet.sample, daemon=True),
    ]
    fleet.bad_image = ids[BAD]
    try:
        with running_prometheus(tmp_path, yaml.safe_dump(config)) as url:
            for thread in threads:
                thread.start()
            wait_for(
                "every instance serving", lambda: True if fleet.serving and fleet.serving[-1] == 4 else None
            )
            # The samples before every instance came up are the setup's, not the release's.
            fleet.serving.clear()
            yield fleet, Engine(fleet, url), ids
    finally:
        fleet.stop.set()
        for thread in threads:
            if thread.is_alive():
                thread.join()
        for instance in fleet.instances.values():
            instance.become(False, "", "")


def test_a_bad_wave_is_judged_and_rolled_back_and_a_good_release_passes_every_wave(
    world: tuple[Fleet, Engine, dict[str, str]], project: ProjectCopy, tmp_path: Path
) -> None:
    fleet, engine, ids = world
    started = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 1))
    good_record = last_good(project.root, "dc1", "a" * 40)
    good_plan = render_plan("dc1", project_dir=project.root)
    wave_1 = fleet.pods["meetings-media-pod-0"]
    others = [name for pod, names in fleet.pods.items() if pod != "meetings-media-pod-0" for name in names]

    # The bad release: wave 1 fails its judgement, nothing else changes.
    _release(project, BAD)
    bad_plan = render_plan("dc1", project_dir=project.root)
    assert engine.up(project.root, {}) == 255
    (bad_wave, bad_started) = engine.waves_started[0]
    judged = time.monotonic()
    bad_log = "\n".join(engine.log)
    assert bad_wave == 1 and [w for w, _ in engine.waves_started] == [1], bad_log
    assert "wave 1/4 FAILED: the analysis says fail" in bad_log, bad_log
    # Prometheus extrapolates increase() to the window's edges: the ratio read is 5 % give or take.
    ratio = re.search(r"error-ratio: fail - new ([0-9.]+), old 0;", bad_log)
    assert ratio and 0.04 <= float(ratio[1]) <= 0.06, bad_log
    assert all(fleet.image_of(name) == ids[BAD] for name in wave_1)
    # Judged within the bake: rebuilt, serving (3 probes 2 s apart), the bake, one query.
    assert judged - bad_started < BAKE_S + 20, f"judged {judged - bad_started:.1f}s after the wave started"

    # The rollback, by the rollback's own steps, on the last good record.
    changes = load_preview(_preview(good_plan, bad_plan, tmp_path / "preview.json"), stack="dc1")
    verdict = decide(changes)
    assert verdict.automatic, verdict.blockers
    engine.log.clear()
    failed = restore(good_record, changes, project.root, tmp_path / "rollback", run=engine.runner())
    rolled_back = time.monotonic()
    rollback_log = "\n".join(engine.log)
    assert failed == "", failed + "\n" + rollback_log
    outcome = Outcome("dc1", "b" * 40, verdict, ("wave 1/4 FAILED",), rolled_back=True)
    assert hold(good_record, project.root, outcome) == [SERVICE]
    seconds = rolled_back - bad_started
    print(f"\nbad wave start -> rollback complete: {seconds:.1f}s (judged after {judged - bad_started:.1f}s)")
    # Wave 1 rebuilt back, behind its gate; waves 2-4 re-probed and judged, never rebuilt.
    assert all(fleet.image_of(name) == ids[OLD] for name in wave_1)
    assert all(len(fleet.rebuilds(name)) == 2 for name in wave_1), {n: fleet.rebuilds(n) for n in wave_1}
    assert all(min(fleet.rebuilds(name)) >= started for name in wave_1)
    assert all(fleet.image_of(name) == ids[OLD] and not fleet.rebuilds(name) for name in others)
    assert rollback_log.count("PASSED: pods") == 4, rollback_log

    # The checkout still names the bad release, but the hold plans the last good one: the next
    # unrelated deploy does not ship it again.
    held_plan = render_plan("dc1", project_dir=project.root)
    planned = {r["name"]: r["inputs"]["imageId"] for r in held_plan["resources"] if r["type"] == INSTANCE}
    assert all(planned[name] == ids[OLD] for name in fleet.servers), planned

    # A good release, the hold removed in the same change (as the refusal says): every wave passes.
    engine.log.clear()
    _release(project, GOOD)
    project.edit(HOLDS_FILE, lambda doc: doc["holds"].pop(SERVICE))
    assert engine.up(project.root, {}) == 0, "\n".join(engine.log)
    good_log = "\n".join(engine.log)
    assert [f"wave {w}/4 PASSED" in good_log for w in range(1, 5)] == [True] * 4, good_log
    assert good_log.count("verdict: PASS") == 4, good_log
    assert all(fleet.image_of(name) == ids[GOOD] for name in fleet.servers)

    # Never fewer than pods - max_unavailable pods serving, at any sampled moment.
    assert len(fleet.serving) > 100
    # meetings-media declares no rollout.max_unavailable: the default, 1 (config/models.py).
    assert min(fleet.serving) >= len(fleet.pods) - 1, fleet.serving
