"""The canary's bake: every gate of the stack's plan is probed again after the bake, with the gates'
own probe; a stack that stopped serving fails it (and its deploy job rolls it back)."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.release.scripted_prometheus import scripted, serving
from tests.release.test_gate_judges import NEW, OLD, _spec
from webex_cloud.commands.bake import main as bake_command
from webex_cloud.exit_codes import ExitCode
from webex_cloud.plan import format as tokens
from webex_cloud.plan.document import render_plan
from webex_cloud.plan.format import parse_plan
from webex_cloud.release.bake import bake, gate_specs
from webex_cloud.release.probe import Check, GateSpec


@pytest.fixture(scope="module")
def dc1() -> dict[str, object]:
    return render_plan("dc1", project_dir=REPO)


def test_the_bake_probes_every_gate_of_every_service(dc1: dict[str, object]) -> None:
    specs = gate_specs(parse_plan(dc1, source="dc1"), "dc1")
    gates = [r for r in dc1["resources"] if r["type"] == tokens.LOCAL_COMMAND]  # type: ignore[attr-defined]
    assert len(specs) == len(gates) > 1
    assert {spec.service for spec in specs} >= {"meetings-media", "messaging"}
    assert all(spec.targets for spec in specs)


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP service on 127.0.0.1 that accepts every connection (the pods, serving)."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                server.accept()[0].close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


def _local_plan(dc1: dict[str, object], port: int, folder: Path, prometheus: str) -> Path:
    """dc1's plan with every gate probing 127.0.0.1:<port> (the runner's view of the pods, here) and
    judging through the Prometheus at ``prometheus`` (on 127.0.0.1 too, never dc1's own nodes)."""
    document = json.loads(json.dumps(dc1))
    for resource in document["resources"]:
        if resource["type"] != tokens.LOCAL_COMMAND:
            continue
        spec = GateSpec.from_json(resource["inputs"]["create"])
        check = Check(protocol="tcp", port=port, interval_s=0.05, successes=2)
        targets = tuple(dataclasses.replace(t, address="127.0.0.1", check=check) for t in spec.targets)
        assert spec.analysis is not None, "dc1 is monitored: each gate judges its wave"
        analysis = dataclasses.replace(spec.analysis, prometheus=(prometheus,))
        resource["inputs"]["create"] = dataclasses.replace(
            spec, targets=targets, deadline_s=2, analysis=analysis
        ).to_json()
    path = folder / "dc1.json"
    path.write_text(json.dumps(document))
    return path


def test_a_canary_that_still_serves_passes_its_bake(
    dc1: dict[str, object], listener: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The stack's probes all succeed, in time, and meetings-signalling (judged on its own calls) fails
    # none: every wave passes its absolute limits.
    counts = ("sum(count_over_time(", "sum(increase(webex_calls_total")
    healthy = scripted(new_errors=0.0, old_errors=0.0, new="", requests=counts)
    with serving(healthy) as (prometheus, asked):
        plan = _local_plan(dc1, listener, tmp_path, f"http://127.0.0.1:{prometheus}")
        assert bake_command(["--stack", "dc1", "--plan", str(plan), "--seconds", "0.2"]) == ExitCode.OK
    assert asked, "the bake judged the waves' metrics"
    out = capsys.readouterr().out
    assert "[bake] dc1: baking 0.2s, then probing its" in out and "[bake] dc1 PASSED" in out
    assert "[gate] dc1/meetings-media wave 1/" in out


def test_a_canary_that_stopped_serving_fails_its_bake(
    dc1: dict[str, object], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]  # nothing listens there once closed
    plan = _local_plan(dc1, port, tmp_path, f"http://127.0.0.1:{port}")
    assert bake_command(["--stack", "dc1", "--plan", str(plan), "--seconds", "0.1"]) == ExitCode.BLOCKING
    out = capsys.readouterr().out
    assert "[bake] dc1 FAILED after the bake: dc1/meetings-media wave 1/4 does not serve (" in out
    assert "NOT serving" in out and "wave 2/4" not in out  # the first failed gate ends the bake


def _empty(_query: str) -> bytes:
    """Prometheus v2.42.0's answer when no series matches: an empty vector."""
    return json.dumps({"status": "success", "data": {"resultType": "vector", "result": []}}).encode()


@pytest.mark.parametrize("prometheus", ["unreachable", "empty"])
def test_a_canary_that_serves_but_cannot_be_judged_fails_its_bake_saying_so(
    dc1: dict[str, object],
    listener: int,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    prometheus: str,
) -> None:
    """Its pods serve; its metrics cannot be read (nothing listens, or no series): the bake fails as
    "cannot judge", with the verdict's numbers, never as a stack that stopped serving."""
    with contextlib.ExitStack() as stack:
        if prometheus == "empty":
            port, _ = stack.enter_context(serving(_empty))
        else:
            with socket.create_server(("127.0.0.1", 0)) as closed:
                port = closed.getsockname()[1]
        plan = _local_plan(dc1, listener, tmp_path, f"http://127.0.0.1:{port}")
        code = bake_command(["--stack", "dc1", "--plan", str(plan), "--seconds", "0.1"])
    assert code == ExitCode.BLOCKING
    out = capsys.readouterr().out
    (last,) = [line for line in out.splitlines() if line.startswith("[bake] dc1 FAILED")]
    assert last.startswith(
        "[bake] dc1 FAILED after the bake: dc1/meetings-media wave 1/4 serves, but its analysis says "
        "cannot judge ("
    ), last
    assert "serve" in last and "no longer serves" not in out and "does not serve" not in last
    assert "cannot judge the new pods" in last  # the verdict's reason, as `judge` words it
    assert "verdict: CANNOT-JUDGE (requests in the window: new -, old -)" in out  # judge's own lines


def test_a_plan_without_usable_gate_specs_is_unusable_input(
    dc1: dict[str, object], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = json.loads(json.dumps(dc1))
    gate = next(r for r in document["resources"] if r["type"] == tokens.LOCAL_COMMAND)
    gate["inputs"]["create"] = "echo hello"
    (tmp_path / "dc1.json").write_text(json.dumps(document))
    code = bake_command(["--stack", "dc1", "--plan", str(tmp_path / "dc1.json"), "--seconds", "1"])
    assert code == ExitCode.INPUT
    assert f"{gate['name']}: its create is no gate spec" in capsys.readouterr().err


def test_the_bake_judges_each_gate_on_absolute_limits_over_the_bake_without_a_second_wait() -> None:
    # Every pod is on the release once `up` is done: the wave's old pods are gone, so a new error ratio of
    # 0.06 fails on the metric's own maximum (0.05) alone, judged over the bake just waited (60 s).
    with serving(scripted(new_errors=0.06, old_errors=0.0, new=NEW)) as (port, asked):
        spec = _spec(port, (f"http://127.0.0.1:{port}",))
        waits: list[float] = []
        out = io.StringIO()
        assert not bake([spec], 60, label="dc1", stream=out, sleep=waits.append)
    assert waits == [60]
    queries = [a["query"] for a in asked]
    assert queries and all(OLD not in q for q in queries) and all("[60s]" in q for q in queries)
    log = out.getvalue()
    assert "against old pods (none left: absolute limits only)" in log
    assert "[bake] dc1 FAILED after the bake" in log
