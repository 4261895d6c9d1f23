"""The policy pack reads the health gate's spec the way the probe writes and reads it.

The pack cannot import webex_cloud (it is its own distribution), so it parses the few keys it needs
itself (``webex_policies.stack_rules.read_gate_spec``). Here a spec rendered by the program's own code
(``webex_cloud.release.rollout.gate_spec``, the JSON the gate's ``local.Command`` carries) goes
through the probe's parser and the pack's: renaming a key on either side alone fails this test.
"""

from __future__ import annotations

import pytest
from webex_policies.stack_rules import GATE_FORMAT, GateView, read_gate_spec

from tests.conftest import REPO
from webex_cloud import naming
from webex_cloud.config.loader import load_catalog
from webex_cloud.config.models import Service
from webex_cloud.release.probe import SPEC_FORMAT, GateSpec
from webex_cloud.release.rollout import InstanceFacts, gate_spec


def _service(name: str) -> Service:
    return next(service for _, service in load_catalog(REPO) if service.name == name)


def _wave_spec(service: Service, wave: int, pods: range) -> GateSpec:
    facts = [
        InstanceFacts(
            pod=naming.pod(service.name, pod),
            name=naming.instance(naming.pod(service.name, pod), member.role, ordinal),
            role=member.role,
            address=f"10.10.{pod}.{10 + ordinal}",
            disruptive_inputs={"image": member.image},
        )
        for pod in pods
        for member in service.pods.members
        for ordinal in range(member.count)
    ]
    return gate_spec(service, "dc1", wave, 4, facts)


def test_both_sides_name_the_same_format() -> None:
    assert GATE_FORMAT == SPEC_FORMAT


@pytest.mark.parametrize(
    ("service", "wave", "pods"), [("meetings-media", 2, range(1, 2)), ("messaging", 1, range(2))]
)
def test_the_pack_reads_what_the_probe_reads_from_a_spec_the_program_renders(
    service: str, wave: int, pods: range
) -> None:
    rendered = _wave_spec(_service(service), wave, pods).to_json()
    probe = GateSpec.from_json(rendered)
    pack = read_gate_spec(rendered)
    assert pack == GateView(
        service=probe.service,
        wave=probe.wave,
        pods=probe.pods,
        probed=frozenset(target.instance for target in probe.targets),
    )
    # Neither side read nothing: the values are the ones the program put in.
    assert (pack.service, pack.wave) == (service, wave)
    assert pack.pods == tuple(naming.pod(service, pod) for pod in pods)
    assert len(pack.probed) == len(probe.targets) > 0


def test_a_spec_missing_a_key_the_pack_needs_is_no_gate() -> None:
    # Fail closed: the release rule then reports the wave's pods as ungated.
    rendered = _wave_spec(_service("messaging"), 1, range(1)).to_json()
    assert read_gate_spec(rendered.replace('"pods":', '"pod_names":')) is None
