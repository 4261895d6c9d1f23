"""The rolling filter deployment against the real schedulers of the loopback OpenStack.

Two controller roles (ctl-1, ctl-2) run their own nova-scheduler and cinder-scheduler on this machine
(tools/openstack-loopback). The deploy script runs exactly as on a controller (tests/integration/deploy.py):
a separate process under Debian's /usr/bin/python3, standard library only, driving the environment's own
restart and health hooks (scheduler.sh). The deployment is the session's one rollout of our filters (the
``our_filters`` fixture, tests/integration/conftest.py), which the day-2 and plan-placement tests run on
too; these tests check what that rollout did, then two faulty redeployments, each of which must leave the
controllers on it.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from webex_scheduler_filters import hints, render

from tests.integration.conftest import (
    BACKENDS,
    COMPUTE_HOSTS,
    boot_server,
    create_volume,
    ensure_flavor,
    ensure_image,
    settled_server,
    settled_volume,
    wait_for,
)
from tests.integration.deploy import (
    CONTROLLERS,
    SCHEDULER_SH,
    Deployment,
    build_variant,
    scheduler_paths,
    state_of,
)
from webex_cloud.controller.remote import rolling_deploy as rd

# ----------------------------------------------------------------------------------------------------
# Observing the controllers and the cloud


def healthy_with_our_filters(controller: str) -> None:
    for kind, ours in (("nova", render.NOVA_FILTER_NAME), ("cinder", render.CINDER_FILTER_NAME)):
        check = subprocess.run(
            ["bash", str(SCHEDULER_SH), "health", kind, controller, ours],
            capture_output=True,
            text=True,
            timeout=200,
            check=False,
        )
        assert check.returncode == 0, f"{kind}-scheduler on {controller}: {check.stderr[-2000:]}"


def placement_still_correct(conn: Any, label: str, timings: dict[str, float]) -> None:
    """Pods of one service land on distinct hosts (and one pod more than hosts finds none); replicas of
    one volume group land in distinct failure domains (and one replica more than domains finds none).
    Only our filters give these answers: the built-ins know nothing of sibling pods or failure domains."""
    started = time.monotonic()
    flavor, image = ensure_flavor(conn), ensure_image(conn)
    run = f"it-{label}-{int(time.time())}"
    anchors = conn.compute.create_server_group(name=f"{run}-pods", policies=["anti-affinity"])
    groups = [anchors]
    servers: list[Any] = []
    volumes: list[Any] = []
    try:
        # One after the other, as the components chain them: each sees its siblings already placed.
        for index in range(len(COMPUTE_HOSTS) + 1):
            pod = f"{run}-pod-{index}"
            key = hints.pod_key("it", run, pod)
            pod_hints = {"group": anchors.id, hints.NOVA_POD_HINT: key}
            metadata = {
                hints.INSTANCE_SERVICE_METADATA_KEY: hints.service_key("it", run),
                hints.INSTANCE_POD_METADATA_KEY: key,
                hints.INSTANCE_POD_ROLE_METADATA_KEY: hints.ANCHOR_ROLE,
            }
            server = boot_server(
                conn,
                pod,
                flavor=flavor,
                image=image,
                scheduler_hints=pod_hints,
                metadata=metadata,
                wait=False,
            )
            servers.append(settled_server(conn, server.id))
        *placed, extra = servers
        assert [s.status for s in placed] == ["ACTIVE"] * len(COMPUTE_HOSTS), [s.fault for s in servers]
        assert sorted(s.compute_host for s in placed) == sorted(COMPUTE_HOSTS)
        assert extra.status == "ERROR" and "No valid host" in extra.fault["message"]

        domains = sorted(set(BACKENDS.values()))
        key = f"it/{run}/data"
        for replica in range(len(domains) + 1):
            volume = create_volume(
                conn,
                f"{run}-vol-{replica}",
                metadata={hints.VOLUME_GROUP_METADATA_KEY: key, hints.REPLICA_METADATA_KEY: str(replica)},
                scheduler_hints={hints.CINDER_VOLUME_GROUP_HINT: key},
                wait=False,
            )
            volumes.append(settled_volume(conn, volume.id))
        *spread, surplus = volumes
        assert [v.status for v in spread] == ["available"] * len(domains)
        assert sorted(BACKENDS[v.host.split("#")[0]] for v in spread) == domains
        assert surplus.status == "error"
    finally:
        for server in servers:
            conn.compute.delete_server(server.id, ignore_missing=True)
        for volume in volumes:
            conn.block_storage.delete_volume(volume.id, ignore_missing=True)
        for server in servers:

            def gone(server_id: str = server.id) -> bool | None:
                return True if conn.compute.get(f"/servers/{server_id}").status_code == 404 else None

            wait_for("server deletion", gone)
        for group in groups:
            conn.compute.delete_server_group(group, ignore_missing=True)
    timings[f"placement check ({label})"] = time.monotonic() - started


# ----------------------------------------------------------------------------------------------------
# The tests, in order


def test_rolling_deploy_installs_and_enables_our_filters_on_ctl1_then_ctl2(
    our_filters: Deployment, openstack_conn: Any
) -> None:
    env, result, wheel = our_filters, our_filters.first_roll, our_filters.good
    assert result is not None and wheel is not None
    assert result.code == rd.DEPLOYED, result.log
    before = result.started
    starts: list[int] = []
    for controller in CONTROLLERS:
        state = state_of(controller)
        assert json.loads(state.current)["wheel_sha256"] == wheel.sha256
        assert state.fragments == tuple(env.fragments[k].read_bytes() for k in ("nova", "cinder"))
        site = Path(scheduler_paths(controller)["SITE_DIR"])
        assert (site / f"webex_scheduler_filters-{wheel.version}.dist-info" / "RECORD").is_file()
        healthy_with_our_filters(controller)
        starts += state.started
    # ctl-1's schedulers were restarted (nova, then cinder) before ctl-2's, all during this deployment.
    assert before <= starts[0] <= starts[1] <= starts[2] <= starts[3], starts
    assert result.log.index("ctl-1: deployed and healthy") < result.log.index("ctl-2: installing")
    placement_still_correct(openstack_conn, "after-deploy", env.timings)


def test_a_config_naming_a_missing_filter_stops_at_ctl1_and_restores_it(
    our_filters: Deployment, openstack_conn: Any
) -> None:
    env = our_filters
    assert env.good is not None
    ctl1, ctl2 = state_of("ctl-1"), state_of("ctl-2")
    broken = dict(env.fragments)
    broken["nova"] = env.folder / "nova-missing-filter.conf"
    broken["nova"].write_text(
        env.fragments["nova"].read_text().replace("enabled_filters = ", "enabled_filters = NoSuchFilter,")
    )
    result = env.roll(env.good, broken)
    env.timings["faulty redeploy: missing filter, ctl-1 restarted twice and restored"] = result.seconds
    assert result.code == rd.RESTORED, result.log
    assert "ctl-1: restored" in result.log and "ctl-2 left untouched" in result.log
    after = state_of("ctl-1")
    assert after.current == ctl1.current and after.fragments == ctl1.fragments
    assert after.pids[0] != ctl1.pids[0]  # the nova-scheduler was really restarted, twice
    assert state_of("ctl-2") == ctl2
    healthy_with_our_filters("ctl-1")
    healthy_with_our_filters("ctl-2")
    placement_still_correct(openstack_conn, "after-missing-filter", env.timings)


def test_a_broken_wheel_is_refused_before_ctl1_is_touched(
    our_filters: Deployment, openstack_conn: Any
) -> None:
    env = our_filters
    ctl1, ctl2 = state_of("ctl-1"), state_of("ctl-2")
    broken = build_variant(env.folder, f"broken{int(time.time())}", break_module="nova_filter.py")
    result = env.roll(broken)
    env.timings["faulty redeploy: broken wheel, refused by the import check"] = result.seconds
    assert result.code == rd.REFUSED, result.log
    assert "fault injected" in result.log and "ctl-2 left untouched" in result.log
    assert state_of("ctl-1") == ctl1
    assert state_of("ctl-2") == ctl2
    placement_still_correct(openstack_conn, "after-broken-wheel", env.timings)
