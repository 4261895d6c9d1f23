"""Every input that replaces or disrupts an instance is in its wave's gate triggers (issue 32).

A change of such an input that the triggers miss would change the wave's instances without replacing the
gate, so no probe would run after it: the release would not be gated. The inputs are those the pinned
provider replaces, rebuilds, resizes or powers the instance on (:data:`webex_cloud.facts.provider.TABLE`),
plus the instance's ``replaceOnChanges`` paths.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from tests.conftest import REPO
from webex_cloud.facts.provider import TABLE
from webex_cloud.plan import format as tokens
from webex_cloud.plan.document import render_plan
from webex_cloud.release.probe import GateSpec
from webex_cloud.release.rollout import GATE_TYPE


@cache
def _dc1() -> dict[str, Any]:
    return render_plan("dc1", project_dir=REPO)


def _at(inputs: dict[str, Any], path: str) -> Any:
    value: Any = inputs
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _replacing_inputs(instance: dict[str, Any]) -> dict[str, Any]:
    inputs = instance["inputs"]
    # An input the resource ignores (the pods' first-boot userData) is never diffed, so it replaces nothing.
    ignored = set(instance.get("ignoreChanges", ()))
    found = {
        key: value for key, value in inputs.items() if key in TABLE[tokens.INSTANCE] and key not in ignored
    }
    found.update({path: _at(inputs, path) for path in instance["replaceOnChanges"]})
    return found


def test_every_gate_triggers_on_every_replacing_input_of_its_wave() -> None:
    plan = _dc1()
    instances = {r["name"]: r for r in plan["resources"] if r["type"] == tokens.INSTANCE}
    gates = [r for r in plan["resources"] if r["type"] == GATE_TYPE]
    assert gates
    covered: set[str] = set()
    for gate in gates:
        spec = GateSpec.from_json(gate["inputs"]["create"])
        triggers = {entry["instance"]: entry for entry in gate["inputs"]["triggers"]}
        wave = {t.instance for t in spec.targets}
        assert set(triggers) == wave, gate["name"]
        for name in wave:
            wanted = _replacing_inputs(instances[name])
            # schedulerHints and networks carry the group's and the port's IDs: a replaced group or
            # port changes them too.
            assert {"schedulerHints", "networks", "imageId", "flavorName"} <= set(wanted), name
            got = {key: triggers[name].get(key) for key in wanted}
            assert json.dumps(got, sort_keys=True) == json.dumps(wanted, sort_keys=True), name
        covered |= wave
    # The platform's pairs (controller proxies, monitoring) are no catalog service's: no release wave.
    pairs = (tokens.CONTROLLER_PAIR, tokens.MONITORING_PAIR)
    assert covered == set(instances) - {n for n, r in instances.items() if any(p in r["urn"] for p in pairs)}
