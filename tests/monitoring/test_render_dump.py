"""The monitoring files are dumped by libyaml's emitter (webex_cloud.monitoring.render.DUMPER) for
speed: the text must be the pure-Python emitter's, byte for byte, or every stack's plan (whose user
data holds these files) would change with the PyYAML build installed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from benchmarks.generated_project import generate_datacenters
from tests.conftest import REPO
from webex_cloud.commands import monitoring
from webex_cloud.config.loader import known_stacks, load_deployment
from webex_cloud.monitoring import node, render
from webex_cloud.monitoring.node import pair_user_data
from webex_cloud.paths import stack_file

#: Scalars a catalog or stack file may put into the files: quoting, escapes, templates, Unicode.
AWKWARD = [
    "plain",
    "",
    " leading and trailing ",
    "a: colon",
    "- dash",
    "#hash",
    "{{ $labels.instance }} is down",
    "say \"hi\" and 'bye'",
    "tab\there",
    "line one\nline two\n",
    "naïve café \u2013 ✓ 日本",
    "yes",
    "null",
    "0755",
    "1e3",
    "x" * 300,
    "https://runbooks.example/a?b=c&d=e#f",
    "\u2028 separator",
]


def test_libyaml_is_the_emitter() -> None:
    assert render.DUMPER is yaml.CSafeDumper  # the wheels we pin ship it: otherwise no speed-up


@pytest.mark.parametrize("text", AWKWARD)
def test_an_awkward_scalar_is_dumped_as_the_pure_python_emitter_dumps_it(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = {"summary": text, "list": [text, {"k": text}], text or "empty": 1}
    fast = render.dump(document)
    monkeypatch.setattr(render, "DUMPER", yaml.SafeDumper)
    assert fast == render.dump(document)


def test_every_stacks_files_are_the_pure_python_emitters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet = tmp_path / "fleet"
    projects = [(REPO, known_stacks(REPO)), (fleet, generate_datacenters(fleet, 6))]
    fast = {(str(p), s): monitoring.generate(p, s) for p, stacks in projects for s in stacks}
    monkeypatch.setattr(render, "DUMPER", yaml.SafeDumper)
    for (project, stack), files in fast.items():
        assert files == monitoring.generate(Path(project), stack), stack


def test_every_stacks_node_user_data_is_the_pure_python_emitters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cloud-config of each monitoring node, which the plan pins as an instance's user data."""
    fleet = tmp_path / "fleet"
    projects = [(REPO, known_stacks(REPO)), (fleet, generate_datacenters(fleet, 4))]
    deployments = [load_deployment(p, s) for p, stacks in projects for s in stacks]
    fast = [pair_user_data(d, stack_file(d.stack)) for d in deployments]
    assert any(fast)  # some stack deploys a pair: otherwise this compares nothing
    monkeypatch.setattr(node, "DUMPER", yaml.SafeDumper)
    assert fast == [pair_user_data(d, stack_file(d.stack)) for d in deployments]


@pytest.mark.parametrize("text", AWKWARD)
def test_an_awkward_key_in_user_data_is_dumped_as_the_pure_python_emitter_dumps_it(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {"prometheus.yml": text}
    fast = node.user_data(files, node.Peering(text, text), deploy_key=text)
    monkeypatch.setattr(node, "DUMPER", yaml.SafeDumper)
    assert fast == node.user_data(files, node.Peering(text, text), deploy_key=text)
