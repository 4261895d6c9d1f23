"""The live audit's verdicts on fake API records (the JSON shapes of Nova's and Cinder's detail listings).

The expectations come from the example dc1 plan, rendered in-process once for the module; the "cloud" is a
list of records built as Nova (2.1+) and Cinder (3.x) return them to an admin, or to a project reader (the
policy-guarded keys left out, as the APIs do).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.audit.fakes import STACK, deployed, first_pods, host_id
from webex_cloud.audit import compare
from webex_cloud.audit.expected import Expected
from webex_cloud.cloud import views as observed
from webex_cloud.commands.audit import main
from webex_cloud.exit_codes import ExitCode
from webex_cloud.facts import invariants as rules
from webex_cloud.naming import cloud_name
from webex_cloud.placement.plan import PlacementPlan
from webex_cloud.tags import ownership_metadata


def kinds(report: compare.Report) -> list[str]:
    return sorted(f.kind for f in report.findings)


def test_the_plan_deployed_as_planned_audits_clean(expected: Expected) -> None:
    report = compare.audit(expected, deployed(expected).observation())
    assert report.findings == []
    assert report.limitations == []
    assert report.checked["instances"] == len(deployed(expected).servers)
    assert all(len(pod.members) == 1 for pod in report.pods)


def test_the_place_picture_names_replicas_as_the_audit_finds_them(
    plan: PlacementPlan, expected: Expected
) -> None:
    """placement/picture.py derives cloud names (naming.cloud_name); the audit reads them from the plan."""
    derived = [
        cloud_name(plan.stack, r.name) for s in plan.services for g in s.volume_groups for r in g.replicas
    ]
    assert sorted(derived) == sorted(n for g in expected.groups for n in g.replicas)
    pods = {p.name: p.instances for p in expected.pods}
    for service in plan.services:
        for pod in service.pods:
            assert pods[pod.name] == tuple(cloud_name(plan.stack, i.name) for i in pod.instances)


def test_a_member_booted_onto_a_sibling_pods_host_splits_its_pod_and_shares_the_host(
    expected: Expected,
) -> None:
    cloud = deployed(expected)
    pod0, pod1 = first_pods(expected, "messaging")[:2]
    moved = pod1.instances[0]
    cloud.servers = [s for s in cloud.servers if s["name"] != moved]
    stray = cloud.server(moved, expected.hosts[0])  # messaging pod 0's host
    report = compare.audit(expected, cloud.observation())
    assert kinds(report) == [rules.POD_SPLIT, rules.PODS_SHARE_HOST]
    split = next(f for f in report.findings if f.kind == rules.POD_SPLIT)
    assert split.items == (pod1.name,)
    assert set(split.uuids) == {i for n in pod1.instances for i in cloud.ids(n)}
    assert split.where == tuple(sorted((expected.hosts[0], expected.hosts[1])))
    shared = next(f for f in report.findings if f.kind == rules.PODS_SHARE_HOST)
    assert shared.items == (pod0.name, pod1.name) and shared.where == (expected.hosts[0],)
    assert set(shared.uuids) == {stray, *(i for n in pod0.instances for i in cloud.ids(n))}


def test_a_replica_on_a_siblings_backend_shares_its_failure_domain(expected: Expected) -> None:
    cloud = deployed(expected)
    group = next(g for g in expected.groups if len(g.replicas) >= 2)
    (first_domain, backends), *_ = expected.failure_domains.items()
    cloud.volumes = [v for v in cloud.volumes if v["name"] != group.replicas[1]]
    second = cloud.volume(group.replicas[1], backends[-1])  # another backend of replica 0's domain
    report = compare.audit(expected, cloud.observation())
    (finding,) = report.findings
    assert finding.kind == rules.REPLICAS_SHARE_DOMAIN
    assert finding.where == (first_domain,)
    assert set(finding.uuids) == {*cloud.ids(group.replicas[0]), second}
    assert group.key in finding.message


def test_a_replica_restored_from_backup_to_a_new_volume_is_reported(expected: Expected) -> None:
    """Cinder 29 gives a volume restored from a backup without a target the backed-up volume's name and
    metadata, ownership keys included, wherever the scheduler put it (cinder/backup/driver.py
    BackupMetadataAPI; scheduler-filters/tests/cinder_suite/cinder_test_restore.py)."""
    cloud = deployed(expected)
    group = next(g for g in expected.groups if len(g.replicas) >= 2)
    (first_domain, backends), *_ = expected.failure_domains.items()
    original = next(v for v in cloud.volumes if v["name"] == group.replicas[1])
    restored = cloud.volume(group.replicas[1], backends[-1], original["metadata"])  # replica 0's domain
    report = compare.audit(expected, cloud.observation())
    assert kinds(report) == [rules.DUPLICATE, rules.REPLICAS_SHARE_DOMAIN]
    duplicate = next(f for f in report.findings if f.kind == rules.DUPLICATE)
    assert set(duplicate.uuids) == {original["id"], restored}
    cloud.volumes.remove(original)  # the restore replaced a lost replica
    (shared,) = compare.audit(expected, cloud.observation()).findings
    assert shared.kind == rules.REPLICAS_SHARE_DOMAIN and shared.where == (first_domain,)
    assert set(shared.uuids) == {*cloud.ids(group.replicas[0]), restored}


def test_missing_members_and_replicas_are_named(expected: Expected) -> None:
    cloud = deployed(expected)
    pod = expected.pods[0]
    group = expected.groups[0]
    gone = {pod.instances[-1], group.replicas[-1]}
    cloud.servers = [s for s in cloud.servers if s["name"] not in gone]
    cloud.volumes = [v for v in cloud.volumes if v["name"] not in gone]
    report = compare.audit(expected, cloud.observation())
    assert kinds(report) == [rules.MISSING_INSTANCE, rules.MISSING_VOLUME]
    assert {f.message.split()[1] for f in report.findings} == gone


def test_owned_resources_the_catalog_does_not_expect_are_reported_and_foreign_ones_ignored(
    expected: Expected,
) -> None:
    cloud = deployed(expected)
    keys = ownership_metadata("messaging", "team-messaging", STACK)
    stray = cloud.server("dc1-messaging-pod-9-app-0", expected.hosts[2], keys)
    orphan = cloud.volume(
        "dc1-messaging-messages-old", next(iter(expected.failure_domains.values()))[0], keys
    )
    cloud.server("dc2-messaging-pod-0-app-0", expected.hosts[2], ownership_metadata("messaging", "t", "dc2"))
    cloud.server("someone-elses-vm", expected.hosts[2], {"service": "x"})
    report = compare.audit(expected, cloud.observation())
    assert kinds(report) == [rules.UNEXPECTED_INSTANCE, rules.UNEXPECTED_VOLUME]
    assert {u for f in report.findings for u in f.uuids} == {stray, orphan}


def test_a_duplicate_name_is_reported_with_both_uuids(expected: Expected) -> None:
    cloud = deployed(expected)
    name = expected.pods[0].instances[0]
    twin = cloud.server(name, expected.hosts[0])
    report = compare.audit(expected, cloud.observation())
    assert kinds(report) == [rules.DUPLICATE]
    assert set(report.findings[0].uuids) == {*cloud.ids(name)} and twin in report.findings[0].uuids


def test_without_admin_co_location_is_judged_on_host_id_and_the_rest_is_stated(expected: Expected) -> None:
    cloud = deployed(expected)
    pod0, pod1 = first_pods(expected, "messaging")[:2]
    for server in cloud.servers:
        if server["name"] in pod1.instances:
            server["hostId"] = host_id(expected.hosts[0])  # all of pod 1 on pod 0's host
    group = next(g for g in expected.groups if len(g.replicas) >= 2)
    backend = next(iter(expected.failure_domains.values()))[0]
    for volume in cloud.volumes:
        if volume["name"] in group.replicas:
            volume[observed.BACKEND_FIELD] = backend  # invisible to the reader
    report = compare.audit(expected, cloud.observation(admin=False))
    assert kinds(report) == [rules.PODS_SHARE_HOST]
    (shared,) = report.findings
    assert shared.items == (pod0.name, pod1.name)
    assert shared.where == (f"{compare.HOST_ID_PREFIX}{host_id(expected.hosts[0])[:12]}",)
    assert [str(limit) for limit in report.limitations] == [
        "could not check host names (co-location is judged on Nova's per-project hostId instead): "
        "needs policy rule os_compute_api:os-extended-server-attributes "
        f"(default {observed.HOST_RULE_DEFAULT})",
        "could not check the failure domains of volume replicas: needs policy rule "
        f"volume_extension:volume_host_attribute (default {observed.BACKEND_RULE_DEFAULT})",
    ]
    assert all(r.domain is None for r in report.replicas)


def test_an_unplaced_server_and_a_replica_on_an_unknown_backend_are_violations(expected: Expected) -> None:
    cloud = deployed(expected)
    cloud.servers[0].update({"hostId": "", observed.HOST_FIELD: None, "status": "ERROR"})
    cloud.volumes[0][observed.BACKEND_FIELD] = "stray-host@lvm#lvm"
    report = compare.audit(expected, cloud.observation())
    assert kinds(report) == [rules.UNKNOWN_BACKEND, rules.UNPLACED]
    assert {u for f in report.findings for u in f.uuids} == {cloud.servers[0]["id"], cloud.volumes[0]["id"]}


def test_the_policy_rules_named_are_the_installed_nova_and_cinder_defaults() -> None:
    """nova 34 nova/policies/extended_server_attributes.py and cinder 29 cinder/policies/volumes.py."""
    extended = pytest.importorskip("nova.policies.extended_server_attributes")
    nova_base = pytest.importorskip("nova.policies.base")
    volumes = pytest.importorskip("cinder.policies.volumes")
    cinder_base = pytest.importorskip("cinder.policies.base")
    (nova_rule,) = extended.list_rules()
    assert (nova_rule.name, nova_rule.check_str) == (observed.HOST_RULE, nova_base.ADMIN)
    assert nova_base.ADMIN == "rule:context_is_admin"
    (cinder_rule,) = [r for r in volumes.list_rules() if r.name == observed.BACKEND_RULE]
    assert cinder_rule.check_str == cinder_base.RULE_ADMIN_API == "rule:admin_api"
    assert observed.HOST_RULE_DEFAULT.startswith(nova_base.ADMIN)
    assert observed.BACKEND_RULE_DEFAULT.startswith(cinder_base.RULE_ADMIN_API)


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def clouds_yaml(folder: Path, cloud: str, auth_url: str) -> Path:
    auth = {"auth_url": auth_url, "username": "u", "password": "p", "project_name": "p"}
    auth |= {"user_domain_name": "Default", "project_domain_name": "Default"}
    path = folder / "clouds.yaml"
    path.write_text(json.dumps({"clouds": {cloud: {"auth": auth}}}))  # JSON is YAML
    return path


def test_cli_refuses_a_missing_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["--stack", STACK, "--plan", str(tmp_path / "none.json")], capsys)
    assert code == ExitCode.INPUT and "no such plan" in err


def test_cli_names_the_stacks_cloud_when_clouds_yaml_lacks_it(
    plan_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds: {other: {auth: {auth_url: 'http://127.0.0.1:9/v3'}}}\n")
    code, _, err = run_cli(["--stack", STACK, "--plan", str(plan_file), "--clouds-yaml", str(clouds)], capsys)
    assert code == ExitCode.INPUT
    assert "'webex-dc1-reader'" in err and str(clouds) in err and "Traceback" not in err


def test_cli_reports_an_unreachable_cloud_as_unusable_input(
    plan_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clouds = clouds_yaml(tmp_path, "down", "http://127.0.0.1:9/v3")  # nothing listens on port 9
    argv = ["--stack", STACK, "--plan", str(plan_file), "--clouds-yaml", str(clouds), "--cloud", "down"]
    code, _, err = run_cli([*argv, "--timeout", "5"], capsys)
    assert code == ExitCode.INPUT and "'down'" in err and "Traceback" not in err


@pytest.fixture
def cloud_reader(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[observed.Observation]]:
    """The CLI with its two network steps replaced: connecting yields nothing, reading returns this."""
    served: list[observed.Observation] = []

    class Conn:
        def __enter__(self) -> Conn:
            return self

        def __exit__(self, *_: object) -> None:
            pass

    monkeypatch.setattr("webex_cloud.commands.audit.connect", lambda cloud, access, path, timeout: Conn())
    monkeypatch.setattr("webex_cloud.commands.audit.read_project", lambda session: served[0])
    yield served


def test_cli_exit_codes_and_json_follow_the_verdict(
    plan_file: Path,
    expected: Expected,
    cloud_reader: list[observed.Observation],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    cloud = deployed(expected)
    cloud_reader.append(cloud.observation())
    argv = ["--stack", STACK, "--plan", str(plan_file), "--cloud", "x"]
    code, out, _ = run_cli(argv, capsys)
    assert code == ExitCode.OK and out.rstrip().endswith("clean (every check this role may run passed)")
    cloud.servers.pop()
    cloud_reader[0] = cloud.observation(admin=False)
    code, out, _ = run_cli([*argv, "--json", "--svg", str(tmp_path / "a.svg")], capsys)
    document = json.loads(out)
    assert code == ExitCode.BLOCKING and document["clean"] is False
    assert [f["kind"] for f in document["findings"]] == [rules.MISSING_INSTANCE]
    assert [c["rule"] for c in document["could_not_check"]] == [observed.HOST_RULE, observed.BACKEND_RULE]
    assert (tmp_path / "a.svg").is_file()


def test_a_picture_that_cannot_be_written_is_an_input_error(
    expected: Expected,
    plan_file: Path,
    cloud_reader: list[observed.Observation],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    cloud_reader.append(deployed(expected).observation())
    argv = ["--stack", STACK, "--plan", str(plan_file), "--cloud", "x", "--svg", str(tmp_path)]
    code, out, err = run_cli(argv, capsys)
    assert code == ExitCode.INPUT and f"{tmp_path} is a folder; name a file" in err, err
    assert "internal error" not in err and out == ""


def test_the_controller_proxies_on_one_host_break_their_anti_affinity(expected: Expected) -> None:
    cloud = deployed(expected)
    proxies = [p for p in expected.pods if p.service == "controller-plane"]
    assert len(proxies) == 2, "the example plan's controller pair"
    for server in cloud.servers:
        if server["name"] == proxies[1].name:
            server.update({"hostId": host_id(expected.hosts[0]), observed.HOST_FIELD: expected.hosts[0]})
    report = compare.audit(expected, cloud.observation())
    assert [(f.kind, f.service, f.items) for f in report.findings] == [
        (rules.PODS_SHARE_HOST, "controller-plane", tuple(p.name for p in proxies))
    ]


def test_cli_a_cloud_that_never_answers_ends_with_unusable_input(
    plan_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A listener that accepts and never replies: the per-call timeout ends the run (fit for a schedule)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        clouds = clouds_yaml(tmp_path, "silent", f"http://127.0.0.1:{port}/v3")
        argv = ["--stack", STACK, "--plan", str(plan_file), "--clouds-yaml", str(clouds), "--cloud", "silent"]
        code, _, err = run_cli([*argv, "--timeout", "1"], capsys)
    assert code == ExitCode.INPUT and "timed out" in err


@pytest.mark.parametrize("timeout", ["0", "-1", "inf", "nan", "soon"])
def test_cli_wants_a_bounded_timeout(timeout: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--stack", STACK, "--timeout", timeout])
    assert exited.value.code == ExitCode.INPUT
    assert "positive number of seconds" in capsys.readouterr().err
