"""The checkpoint reader against a real S3 server (moto) on loopback, with Pulumi-format state files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ProjectCopy
from tests.preview.conftest import PROJECT, Backend, checkpoint_from_plan
from tests.preview.helpers import base_plan, pr_plan, report_of, resource
from webex_cloud.commands import preview as cli
from webex_cloud.preview.offline import diff_snapshots
from webex_cloud.preview.plans import snapshot_from_plan
from webex_cloud.preview.state import StateBackend, StateBackendError, parse_backend_url


def _reader(backend: Backend) -> StateBackend:
    return StateBackend(parse_backend_url(backend.url))


def test_backend_url_as_pulumi_login_takes_it() -> None:
    location = parse_backend_url(
        "s3://webex-state/dc-state?endpoint=rgw.dc1.internal:8443&s3ForcePathStyle=true"
    )
    assert (location.bucket, location.prefix) == ("webex-state", "dc-state/")
    assert location.endpoint_url == "https://rgw.dc1.internal:8443" and location.path_style
    plain = parse_backend_url("s3://b?endpoint=127.0.0.1:9000&disableSSL=true")
    assert plain.endpoint_url == "http://127.0.0.1:9000" and not plain.path_style


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file:///tmp/state", "not an S3 backend URL"),
        ("s3://bucket?endpoint=x&s3forcepathstyle=true", "unknown parameter(s) s3forcepathstyle"),
    ],
)
def test_bad_backend_urls_are_named(url: str, message: str) -> None:
    with pytest.raises(StateBackendError) as error:
        parse_backend_url(url)
    assert message in str(error.value)


def test_reads_the_last_checkpoint(backend: Backend) -> None:
    backend.put_checkpoint("dc1", checkpoint_from_plan(base_plan()))
    state = _reader(backend).read_checkpoint(PROJECT, "dc1")
    assert state.location == f"s3://{backend.bucket}/.pulumi/stacks/{PROJECT}/dc1.json"
    assert state.time.startswith("2026-11-23T17:00") and state.cli_version == "v3.200.0"
    assert len(state.resources) == len(base_plan()["resources"]) + 1  # and the stack itself
    provider = next(r for r in state.resources.values() if r.type == "pulumi:providers:openstack")
    assert provider.inputs["password"] == "[secret]" and "__defaults" not in provider.inputs


def test_a_fresh_checkpoint_of_the_same_plan_is_no_change(backend: Backend) -> None:
    """Real IDs in the checkpoint and mock IDs in the plan point at the same resources: no diff."""
    backend.put_checkpoint("dc1", checkpoint_from_plan(base_plan()))
    deployed = _reader(backend).read_checkpoint(PROJECT, "dc1").snapshot()
    changes = diff_snapshots(
        deployed, snapshot_from_plan(base_plan(), source="pr.json"), old_only_keys_count=False
    )
    assert changes.changes == ()


def test_checkpoint_against_a_pull_request_plan_finds_the_data_loss(backend: Backend) -> None:
    backend.put_checkpoint("dc1", checkpoint_from_plan(base_plan()))
    pr = base_plan()
    resource(pr, "messaging-messages-2")["inputs"]["availabilityZone"] = "nova-2"
    deployed = _reader(backend).read_checkpoint(PROJECT, "dc1").snapshot()
    rep = report_of(
        diff_snapshots(deployed, snapshot_from_plan(pr, source="pr.json"), old_only_keys_count=False)
    )
    assert [r.subject for r in rep.blocking] == ["Volume `messaging-messages-2`"]


def test_reads_gzip_and_the_legacy_layout(backend: Backend) -> None:
    backend.put_checkpoint("dc2", checkpoint_from_plan(base_plan("dc2")), compress=True)
    assert _reader(backend).read_checkpoint(PROJECT, "dc2").location.endswith("dc2.json.gz")
    backend.client.delete_object(Bucket=backend.bucket, Key=".pulumi/meta.yaml")
    backend.put(".pulumi/stacks/dc1.json", json.dumps(checkpoint_from_plan(base_plan())))
    assert _reader(backend).read_checkpoint(PROJECT, "dc1").location.endswith("/.pulumi/stacks/dc1.json")


class _ModifiedAt:
    """The bucket's client, with each listed key's ``LastModified`` set by the test (S3 keeps whole
    seconds of the real clock: two puts in a row usually tie)."""

    def __init__(self, backend: Backend, modified: dict[str, datetime]) -> None:
        self.client, self.modified = backend.client, modified

    def get_object(self, **kwargs: Any) -> Any:
        return self.client.get_object(**kwargs)

    def list_objects_v2(self, **kwargs: Any) -> Any:
        page = self.client.list_objects_v2(**kwargs)
        for item in page.get("Contents", []):
            item["LastModified"] = self.modified.get(item["Key"], item["LastModified"])
        return page


@pytest.mark.parametrize(
    ("json_at", "gz_at", "read"),
    [(1, 2, "dc1.json.gz"), (2, 1, "dc1.json"), (1, 1, "dc1.json.gz")],
)
def test_of_two_checkpoint_variants_the_most_recently_written_is_read(
    backend: Backend, json_at: int, gz_at: int, read: str
) -> None:
    # pulumi/pulumi pkg/backend/diy/state.go stackPath: a switch of PULUMI_DIY_BACKEND_GZIP leaves the
    # other file behind; the newest wins, the later key on a tie. Only the newer content has zone nova-2.
    older, newer = base_plan(), base_plan()
    resource(newer, "messaging-messages-2")["inputs"]["availabilityZone"] = "nova-2"
    plain = backend.put_checkpoint("dc1", checkpoint_from_plan(older if json_at < gz_at else newer))
    gz = backend.put_checkpoint(
        "dc1", checkpoint_from_plan(older if gz_at < json_at else newer), compress=True
    )
    at = {
        plain: datetime(2026, 12, 1, 0, 0, json_at, tzinfo=UTC),
        gz: datetime(2026, 12, 1, 0, 0, gz_at, tzinfo=UTC),
    }
    reader = StateBackend(parse_backend_url(backend.url), client=_ModifiedAt(backend, at))
    state = reader.read_checkpoint(PROJECT, "dc1")
    assert state.location.endswith(f"/{PROJECT}/{read}")
    zones = {r.name: r.inputs.get("availabilityZone") for r in state.snapshot().resources.values()}
    assert zones["messaging-messages-2"] == "nova-2"  # the newer variant's content (both, on a tie)


def test_a_missing_stack_names_the_stacks_that_exist(backend: Backend) -> None:
    backend.put_checkpoint("dc1", checkpoint_from_plan(base_plan()))
    before = backend.versions()
    with pytest.raises(StateBackendError) as error:
        _reader(backend).read_checkpoint(PROJECT, "dc3")
    assert "no checkpoint for stack 'dc3' of project 'webex-cloud' (stacks there: dc1)" in str(error.value)
    assert error.value.source.endswith(f"/.pulumi/stacks/{PROJECT}/dc3.json")
    assert backend.versions() == before


def test_a_locked_stack_is_refused_and_left_locked(backend: Backend) -> None:
    backend.put_checkpoint("dc1", checkpoint_from_plan(base_plan()))
    lock = backend.lock("dc1")
    before = backend.versions()
    with pytest.raises(StateBackendError) as error:
        _reader(backend).read_checkpoint(PROJECT, "dc1")
    message = str(error.value)
    assert "stack 'dc1' is locked by deployer@ci-runner-7 (pid 4242) since 2026-11-24T08:00:00Z" in message
    assert "an update is running" in message
    assert backend.versions() == before and lock in {key for key, _ in before}
    # Another stack's lock does not block this one.
    backend.put_checkpoint("dc2", checkpoint_from_plan(base_plan("dc2")))
    assert _reader(backend).read_checkpoint(PROJECT, "dc2").stack == "dc2"


@pytest.mark.parametrize(
    ("body", "compress", "message"),
    [
        (b'{"version": 3, "checkpoint": {"stack": "organization/webex-cloud/dc1", "lat', False, "not JSON"),
        (b"\x1f\x8b\x08\x00garbage", True, "not valid gzip"),
        (
            b'{"version": 3, "checkpoint": {"latest": {"resources": []}}}',
            False,
            "checkpoint.stack: Field required",
        ),
        (
            b'{"version": 3, "checkpoint": {"stack": "dc1", "latest": {"resources": [{"urn": "u"}]}}}',
            False,
            "checkpoint.latest.resources[0].type: Field required",
        ),
        (b'{"version": 2, "checkpoint": {"stack": "dc1"}}', False, "checkpoint version 2 is not supported"),
        (b'{"version": 3, "checkpoint": {"stack": "organization/webex-cloud/dc2"}}', False, "is for stack"),
    ],
)
def test_a_corrupted_checkpoint_is_a_clear_error(
    backend: Backend, body: bytes, compress: bool, message: str
) -> None:
    key = f".pulumi/stacks/{PROJECT}/dc1.json" + (".gz" if compress else "")
    backend.put(key, body)
    before = backend.versions()
    with pytest.raises(StateBackendError) as error:
        _reader(backend).read_checkpoint(PROJECT, "dc1")
    assert message in str(error.value)
    assert error.value.source == f"s3://{backend.bucket}/{key}"
    assert backend.versions() == before


def test_a_never_deployed_stack_is_empty(backend: Backend) -> None:
    backend.put_checkpoint("dc1", {"version": 3, "checkpoint": {"stack": f"organization/{PROJECT}/dc1"}})
    assert _reader(backend).read_checkpoint(PROJECT, "dc1").resources == {}


def test_an_unreachable_endpoint_is_a_clear_error() -> None:
    # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    location = parse_backend_url("s3://state?endpoint=127.0.0.1:9&disableSSL=true&s3ForcePathStyle=true")
    with pytest.raises(StateBackendError) as error:
        StateBackend(location).read_checkpoint(PROJECT, "dc1")
    assert "cannot read the state backend (EndpointConnectionError" in str(error.value)


def test_an_unreachable_or_missing_bucket_is_a_clear_error(backend: Backend) -> None:
    missing = parse_backend_url(backend.url.replace(backend.bucket, "no-such-bucket"))
    with pytest.raises(StateBackendError) as error:
        StateBackend(missing).read_checkpoint(PROJECT, "dc1")
    assert "bucket 'no-such-bucket' does not exist" in str(error.value)


def test_cli_reports_against_the_deployed_state(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backend.put_checkpoint("dc1", checkpoint_from_plan(base_plan()))
    pr = base_plan()
    resource(pr, "messaging-messages-0")["inputs"]["availabilityZone"] = "dc1-az2"
    plan_file = tmp_path / "dc1.json"
    plan_file.write_text(json.dumps(pr))
    code = cli.main(
        [
            "--stack",
            "dc1",
            "--plan",
            str(plan_file),
            "--state",
            backend.url,
            "--json",
            str(tmp_path / "report.json"),
        ]
    )
    out, err = capsys.readouterr()
    assert code == 1
    assert "blocking: data-loss: Volume `messaging-messages-0`: replace expected: availabilityZone" in err
    assert f"deployed checkpoint `s3://{backend.bucket}/.pulumi/stacks/{PROJECT}/dc1.json`" in out
    assert json.loads((tmp_path / "report.json").read_text())["blocking"][0]["kind"] == "data-loss"


def test_a_gated_release_against_the_deployed_state_rolls_and_is_not_downtime(
    backend: Backend, project: ProjectCopy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The waves are ordered by the dependency graph: a report against the checkpoint must keep it, or
    # every gated release reads as all pods down at once.
    backend.put_checkpoint("dc1", checkpoint_from_plan(base_plan()))
    project.edit(
        "catalog/meetings-signalling.yaml", lambda doc: doc["pods"]["members"][0].update(flavor="m1.large")
    )
    plan_file = tmp_path / "dc1.json"
    plan_file.write_text(json.dumps(pr_plan(project)))
    code = cli.main(["--stack", "dc1", "--plan", str(plan_file), "--state", backend.url])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "meetings-signalling: 3 pods, 1 at a time, health-gated" in out


def test_cli_refuses_a_locked_stack_with_exit_2(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backend.put_checkpoint("dc1", checkpoint_from_plan(base_plan()))
    backend.lock("dc1")
    plan_file = tmp_path / "dc1.json"
    plan_file.write_text(json.dumps(base_plan()))
    assert cli.main(["--stack", "dc1", "--plan", str(plan_file), "--state", backend.url]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: s3://") and "is locked by deployer@ci-runner-7" in err
    assert "Traceback" not in err


def test_the_plans_stand_ins_are_no_change_against_the_deployed_state(
    backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The checkpoint holds what the engine resolved (the management network's real id on the proxies'
    and the monitoring pair's ports, the verified image ids on the instances and in the release gates'
    triggers); the offline plan, stand-ins. Taken literally they were pending changes: the proxies and
    the monitoring pair replaced (a port's network_id is ForceNew) and every gate re-run."""
    backend.put_checkpoint("dc1", checkpoint_from_plan(base_plan()))
    plan_file = tmp_path / "dc1.json"
    plan_file.write_text(json.dumps(base_plan()))
    code = cli.main(
        [
            "--stack",
            "dc1",
            "--plan",
            str(plan_file),
            "--state",
            backend.url,
            "--json",
            str(tmp_path / "r.json"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 0, err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["changes"] == [], [c["name"] for c in report["changes"]]
    # Not compared is said, with the queries a reviewer can check by hand.
    assert any(
        "getNetwork(name=mgmt-dc1)" in note and "getNetwork(external=True, name=public-dc1)" in note
        for note in report["notes"]
    ), report["notes"]
