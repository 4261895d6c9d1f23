"""docs/state-backend.md, "Restoring a stack from the bucket's versions", run as written (the same S3
calls the `aws s3api` commands make, through boto3) on a versioned bucket of moto's S3 server on
loopback; the project's own reader then reads the restored checkpoint."""

from __future__ import annotations

import re

import pytest

from tests.conftest import REPO
from tests.preview.conftest import PROJECT, Backend, checkpoint_from_plan
from tests.preview.helpers import base_plan, resource
from webex_cloud.preview.state import StateBackend, StateBackendError, parse_backend_url

DOC = (REPO / "docs" / "state-backend.md").read_text()


def _procedure() -> str:
    section = DOC[DOC.index("## Restoring a stack from the bucket's versions") :]
    return section[section.index("```sh") : section.index("```\n", section.index("```sh") + 5)]


def test_the_documented_keys_are_the_ones_pulumi_and_the_reader_use() -> None:
    steps = _procedure()
    assert "KEY=.pulumi/stacks/webex-cloud/dc1.json" in steps
    assert "--prefix .pulumi/locks/organization/webex-cloud/dc1/" in steps
    assert '--copy-source "$BUCKET/$KEY?versionId=$VERSION"' in steps
    assert "Versions[?Key=='$KEY']" in steps  # the exact key: dc1.json.bak shares the prefix


def test_a_corrupted_checkpoint_is_restored_from_its_previous_version(backend: Backend) -> None:
    good = checkpoint_from_plan(base_plan())
    key = backend.put_checkpoint("dc1", good)
    newer = base_plan()
    resource(newer, "messaging-messages-0")["inputs"]["size"] = 600
    backend.put_checkpoint("dc1", checkpoint_from_plan(newer))
    backend.put(key + ".bak", "{}")  # Pulumi's backup beside it: same prefix, another key
    backend.put(key, "{not json")  # the update that broke it
    reader = StateBackend(parse_backend_url(backend.url))
    with pytest.raises(StateBackendError):
        reader.read_checkpoint(PROJECT, "dc1")

    # 1. No update is running.
    locks = backend.client.list_objects_v2(
        Bucket=backend.bucket, Prefix=f".pulumi/locks/organization/{PROJECT}/dc1/"
    )
    assert locks.get("KeyCount", 0) == 0
    # 2. The checkpoint's versions, newest first, the exact key only.
    listed = backend.client.list_object_versions(Bucket=backend.bucket, Prefix=key)
    versions = [v for v in listed["Versions"] if v["Key"] == key]  # S3 lists them newest first
    assert versions[0]["IsLatest"]
    assert len(versions) == 3 and {v["Key"] for v in listed["Versions"]} == {key, key + ".bak"}
    oldest = versions[-1]["VersionId"]  # the good one: two updates back
    # 4. Copy it onto the same key.
    backend.client.copy_object(
        Bucket=backend.bucket, Key=key, CopySource={"Bucket": backend.bucket, "Key": key, "VersionId": oldest}
    )

    restored = reader.read_checkpoint(PROJECT, "dc1")
    size = next(r for r in restored.resources.values() if r.urn.endswith("::messaging-messages-0"))
    assert size.inputs["size"] == resource(base_plan(), "messaging-messages-0")["inputs"]["size"] != 600
    # Nothing was deleted: the broken version is still there, and can be restored the same way.
    after = backend.client.list_object_versions(Bucket=backend.bucket, Prefix=key)
    assert len([v for v in after["Versions"] if v["Key"] == key]) == 4


def test_a_running_update_is_seen_by_step_one(backend: Backend) -> None:
    backend.put_checkpoint("dc1", checkpoint_from_plan(base_plan()))
    lock = backend.lock("dc1")
    locks = backend.client.list_objects_v2(
        Bucket=backend.bucket, Prefix=f".pulumi/locks/organization/{PROJECT}/dc1/"
    )
    assert [o["Key"] for o in locks["Contents"]] == [lock]
    assert re.search(r"--prefix \.pulumi/locks/organization/webex-cloud/dc1/$", _procedure(), re.M)
