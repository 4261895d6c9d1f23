"""A project copy with twenty datacenters: the example dc1 and dc2 plus eighteen generated stack files;
and, for the deploy replays, the monitoring nodes' host keys and the Nova their console is read from."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from benchmarks.generated_project import MAX_GENERATED, datacenter_stack, generate_datacenters
from tests.cloud.fake_cloud import fake_cloud
from tests.conftest import REPO
from tests.monitoring import host_keys_stand_in as keys
from webex_cloud.config.loader import DATACENTER_KEY

TWENTY = 20


@pytest.fixture(scope="session")
def twenty(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("twenty") / "project"
    root.mkdir()
    assert len(generate_datacenters(root, TWENTY)) == TWENTY
    return root


@pytest.fixture(autouse=True)
def monitoring_consoles(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """For the deploy replays (the tests using tests/stacks/test_rollback_replay.py's ``deploy``, which
    hands this process's environment to the workflow's steps): every stack's monitoring nodes
    with a host key each, and a Nova on 127.0.0.1 that shows them to the stacks' reader identities
    (``OS_CLIENT_CONFIG_FILE``) as servers whose consoles print those keys, as cloud-init does."""
    if "deploy" not in request.fixturenames:
        yield
        return
    folder = tmp_path_factory.mktemp("host-keys")
    # The example stacks and every one a replay may add (benchmarks/generated_project.py).
    texts = [path.read_text() for path in sorted((REPO / "stacks").glob("Pulumi.*.yaml"))]
    texts += [datacenter_stack(number) for number in range(3, MAX_GENERATED + 1)]
    stacks = [yaml.safe_load(text) for text in texts]
    datacenters = [stack["config"][DATACENTER_KEY] for stack in stacks]
    nodes = [address for dc in datacenters for address in (dc.get("monitoring") or {}).get("nodes", [])]
    answers = keys.nova_answers(folder, nodes)
    readers = [d["identities"]["reader"] for d in datacenters if d.get("identities")]
    with fake_cloud(["reader"], answers) as cloud:
        monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(cloud.clouds_yaml(folder, *readers)))
        monkeypatch.setenv(keys.KEYS_ENV, str(folder))
        yield
