"""Bad input: each case names the file, the field and the fix, and nothing is rendered."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import ProjectCopy
from webex_cloud.config.errors import CatalogError
from webex_cloud.config.loader import load_deployment


@dataclass(frozen=True)
class Case:
    id: str
    mutate: Callable[[ProjectCopy], None]
    file: str
    field: str
    says: str


def catalog(name: str, change: Callable[[dict[str, Any]], Any]) -> Callable[[ProjectCopy], None]:
    return lambda p: p.edit(f"catalog/{name}.yaml", change)


def dc1(change: Callable[[dict[str, Any]], Any]) -> Callable[[ProjectCopy], None]:
    return lambda p: p.edit_datacenter("dc1", change)


def setitem(path: list[Any], value: Any) -> Callable[[Any], None]:
    def change(data: Any) -> None:
        for key in path[:-1]:
            data = data[key]
        data[path[-1]] = value

    return change


def delitem(path: list[Any]) -> Callable[[Any], None]:
    def change(data: Any) -> None:
        for key in path[:-1]:
            data = data[key]
        del data[path[-1]]

    return change


MSG = "catalog/messaging.yaml"
DC1 = "stacks/Pulumi.dc1.yaml"
DCKEY = "config.webex-cloud:datacenter"

CASES = [
    Case(
        # 8 waves of 60 min instance replacement, 20 min attachments and a 7200 s gate: 1600 min of
        # release, more than a deploy job may run (config/release_time.py); `plan` refuses it first.
        "release-longer-than-the-deploy-job",
        catalog(
            "messaging", lambda d: d.update({"rollout": {"deadline_s": 7200}}) or d["pods"].update(count=8)
        ),
        MSG,
        "rollout",
        "raise rollout.max_unavailable or lower rollout.deadline_s",
    ),
    Case(
        "negative-count",
        catalog("messaging", setitem(["pods", "members", 1, "count"], -1)),
        MSG,
        "pods.members[1].count",
        "greater than or equal to 1",
    ),
    Case(
        "unknown-key-suggests",
        catalog("messaging", lambda d: d["pods"].update({"cout": 2})),
        MSG,
        "pods.cout",
        "did you mean 'count'",
    ),
    Case(
        "unknown-top-key",
        catalog("messaging", lambda d: d.update({"volume_group": []})),
        MSG,
        "volume_group",
        "did you mean 'volume_groups'",
    ),
    Case(
        "missing-owner", catalog("messaging", delitem(["owner"])), MSG, "owner", "required field is missing"
    ),
    Case(
        "bad-protocol",
        catalog("messaging", setitem(["network", "ingress", 0, "protocol"], "sctp")),
        MSG,
        "network.ingress[0].protocol",
        "'tcp', 'udp' or 'icmp'",
    ),
    Case(
        "bad-port-range",
        catalog("messaging", setitem(["network", "ingress", 0, "ports"], "9000-80")),
        MSG,
        "network.ingress[0]",
        "low <= high",
    ),
    Case(
        "port-garbage",
        catalog("messaging", setitem(["network", "ingress", 0, "ports"], "https")),
        MSG,
        "network.ingress[0].ports",
        "a number or a range",
    ),
    Case(
        "tcp-without-ports",
        catalog("messaging", delitem(["network", "ingress", 0, "ports"])),
        MSG,
        "network.ingress[0]",
        "need 'ports'",
    ),
    Case(
        "unknown-source",
        catalog("messaging", setitem(["network", "ingress", 0, "source"], "partners")),
        MSG,
        "network.ingress[0].source",
        "valid: any, deploy-runner, ops, peer-dc",
    ),
    Case(
        "peer-dc-written-by-hand",
        dc1(setitem(["sources", "peer-dc"], ["10.99.0.0/16"])),
        DC1,
        f"{DCKEY}.sources.peer-dc",
        "derived from the other stack files' cidr_pool (dc2: 10.20.0.0/16); remove it",
    ),
    Case(
        # Every pod is health-gated from the deploy runner, admitted only through this source:
        # without it each gate times out and a deployment stops at its first wave.
        "no-deploy-runner-source",
        dc1(delitem(["sources", "deploy-runner"])),
        DC1,
        f"{DCKEY}.sources",
        "add deploy-runner: [<runner address>/32]",
    ),
    Case(
        "unknown-flavor",
        catalog("messaging", setitem(["pods", "members", 0, "flavor"], "m9.huge")),
        MSG,
        "pods.members[0].flavor",
        "valid: m1.large",
    ),
    Case(
        "unknown-image",
        catalog("messaging", setitem(["pods", "members", 0, "image"], "centos-6")),
        MSG,
        "pods.members[0].image",
        "add it to config.webex-cloud:datacenter.images in stacks/Pulumi.dc1.yaml",
    ),
    Case(
        "duplicate-role",
        catalog("messaging", setitem(["pods", "members", 1, "role"], "app")),
        MSG,
        "pods.members",
        "repeated: app",
    ),
    Case(
        "replicas-over-failure-domains",
        catalog("recording-storage", lambda d: d["volume_groups"][1].update(replicas=5, attach_to=None)),
        "catalog/recording-storage.yaml",
        "volume_groups[1].replicas",
        "has 4 (rack-a, rack-b, rack-c, rack-d)",
    ),
    Case(
        "no-spare-failure-domain",
        catalog("recording-storage", lambda d: d["volume_groups"][1].update(replicas=4, attach_to=None)),
        "catalog/recording-storage.yaml",
        "volume_groups[1].replicas",
        "after losing one domain its replica has nowhere to go (N+1 needs 5)",
    ),
    Case(
        "no-spare-host-in-zone",
        catalog("messaging", setitem(["pods", "count"], 10)),
        "catalog/messaging.yaml",
        "pods.count",
        "after losing one, its pod has no host without another pod of the service (N+1 needs 6)",
    ),
    Case(
        "attached-replicas-over-pods",
        catalog("messaging", setitem(["pods", "count"], 2)),
        MSG,
        "volume_groups[0].replicas",
        "the service has 2 pods",
    ),
    Case(
        "attach-to-unknown-role",
        catalog("messaging", setitem(["volume_groups", 0, "attach_to"], "db")),
        MSG,
        "volume_groups[0].attach_to",
        "no pod member has role 'db'; valid roles: app, store",
    ),
    Case(
        "duplicate-volume-group",
        catalog("messaging", lambda d: d["volume_groups"].append(d["volume_groups"][0])),
        MSG,
        "volume_groups[1].name",
        "already used by volume_groups[0]",
    ),
    Case(
        "more-pods-than-hosts",
        catalog("messaging", setitem(["pods", "count"], 11)),
        MSG,
        "pods.count",
        "put 6 in dc1-az1, which has 5 hosts (two pods never share a host); use at most 10",
    ),
    Case(
        "pod-too-big-for-a-host",
        catalog("messaging", setitem(["pods", "members", 0, "count"], 12)),
        MSG,
        "pods.members",
        "on a single host",
    ),
    Case(
        "unknown-datacenter",
        catalog("telepresence-gateway", setitem(["datacenters"], ["dc3"])),
        "catalog/telepresence-gateway.yaml",
        "datacenters[0]",
        "valid: dc1, dc2",
    ),
    Case(
        "name-not-file-name",
        catalog("messaging", setitem(["name"], "chat")),
        MSG,
        "name",
        "set name: messaging or rename the file to chat.yaml",
    ),
    Case(
        "unknown-volume-type",
        catalog("messaging", setitem(["volume_groups", 0, "type"], "nvme")),
        MSG,
        "volume_groups[0].type",
        "valid: capacity, ssd",
    ),
    Case(
        "wrong-type-for-pods",
        catalog("messaging", setitem(["pods"], [1, 2])),
        MSG,
        "pods",
        "expected a mapping",
    ),
    Case(
        "subnet-too-small",
        catalog("meetings-media", setitem(["network", "prefix_length"], 28)),
        "catalog/meetings-media.yaml",
        "network.prefix_length",
        "4 pods x 2 roles need 139 addresses",
    ),
    Case(
        "zone-without-hosts",
        dc1(lambda d: [h.update(availability_zone="dc1-az1") for h in d["hosts"]]),
        DC1,
        f"{DCKEY}.availability_zones[1]",
        "zone 'dc1-az2' has no host",
    ),
    Case(
        "pods-crowd-one-zone",
        dc1(lambda d: [h.update(availability_zone="dc1-az1") for h in d["hosts"][5:9]]),
        "catalog/meetings-media.yaml",
        "pods.count",
        "4 pods spread over 2 zones put 2 in dc1-az2, which has 1 hosts",
    ),
    Case(
        "pool-overlaps-management",
        dc1(lambda d: d.update(cidr_pool="10.250.0.0/16", subnets={})),
        DC1,
        f"{DCKEY}.cidr_pool",
        "overlaps the management network",
    ),
    Case(
        "pinned-subnet-outside-pool",
        dc1(lambda d: d.update(subnets={"messaging": "10.99.0.0/24"})),
        DC1,
        f"{DCKEY}.subnets.messaging",
        "outside cidr_pool",
    ),
    Case(
        "pinned-subnet-wrong-size",
        dc1(lambda d: d.update(subnets={"messaging": "10.10.7.0/25"})),
        DC1,
        f"{DCKEY}.subnets.messaging",
        "a resized subnet is a new one",
    ),
    Case(
        "pinned-subnets-overlap",
        dc1(lambda d: d.update(subnets={"messaging": "10.10.7.0/24", "meetings-media": "10.10.7.0/24"})),
        DC1,
        f"{DCKEY}.subnets.messaging",
        "overlaps the subnet pinned for meetings-media",
    ),
    Case(
        "empty-datacenters",
        catalog("messaging", setitem(["datacenters"], [])),
        MSG,
        "datacenters",
        "at least 1 item",
    ),
    Case(
        "repeated-datacenter",
        catalog("telepresence-gateway", setitem(["datacenters"], ["dc1", "dc1"])),
        "catalog/telepresence-gateway.yaml",
        "datacenters[1]",
        "already used by datacenters[0]",
    ),
    Case(
        "pool-too-small",
        dc1(lambda d: d.update(cidr_pool="10.10.0.0/23", subnets={})),
        DC1,
        f"{DCKEY}.cidr_pool",
        "cannot fit the catalog's subnets",
    ),
    Case(
        "pools-overlap",
        dc1(lambda d: d.update(cidr_pool="10.20.0.0/15", subnets={})),
        DC1,
        f"{DCKEY}.cidr_pool",
        "overlaps dc2's pool 10.20.0.0/16",
    ),
    Case(
        "stack-name-mismatch",
        dc1(setitem(["name"], "dc9")),
        DC1,
        f"{DCKEY}.name",
        "must equal the stack name",
    ),
    Case(
        "host-in-undeclared-zone",
        dc1(setitem(["hosts", 0, "availability_zone"], "dc1-az9")),
        DC1,
        f"{DCKEY}.hosts[0].availability_zone",
        "not declared; declared: dc1-az1, dc1-az2",
    ),
    Case(
        "duplicate-host",
        dc1(lambda d: d["hosts"].append(d["hosts"][0])),
        DC1,
        f"{DCKEY}.hosts[10].name",
        "already used by hosts[0]",
    ),
    Case(
        "backend-in-two-domains",
        dc1(setitem(["failure_domains", "rack-b"], ["cinder-dc1-a@ssd"])),
        DC1,
        f"{DCKEY}.failure_domains.rack-b[0]",
        "belongs to exactly one",
    ),
    Case(
        "empty-failure-domain",
        dc1(setitem(["failure_domains", "rack-b"], [])),
        DC1,
        f"{DCKEY}.failure_domains.rack-b",
        "at least 1 item",
    ),
    Case(
        "backend-with-pool",
        dc1(setitem(["failure_domains", "rack-c"], ["cinder-dc1-c@ssd#pool0"])),
        DC1,
        f"{DCKEY}.failure_domains.rack-c[0]",
        "should match pattern",
    ),
    Case("bad-cidr", dc1(setitem(["cidr_pool"], "10.10.0.300/16")), DC1, f"{DCKEY}.cidr_pool", "network"),
    Case(
        "one-controller",
        dc1(lambda d: d["controllers"]["hosts"].pop()),
        DC1,
        f"{DCKEY}.controllers.hosts",
        "at least 2",
    ),
    Case(
        "analysis-query-names-no-side",
        catalog(
            "messaging",
            setitem(
                ["rollout"],
                {"analysis": {"requests": "sum(x)", "metrics": [{"name": "errors", "query": "e", "max": 1}]}},
            ),
        ),
        MSG,
        "rollout.analysis.requests",
        "selects neither $instances nor $pods, so the new and the old pods would read the same series",
    ),
    Case(
        "analysis-unknown-placeholder",
        catalog(
            "messaging",
            setitem(
                ["rollout"],
                {
                    "analysis": {
                        "requests": 'sum(r{pod=~"$pods"})',
                        "metrics": [{"name": "errors", "query": 'sum(e{instance=~"$instance"})', "max": 1}],
                    }
                },
            ),
        ),
        MSG,
        "rollout.analysis.metrics[0].query",
        "names $instance, which nothing fills; use only $instances, $pods, $window, $service, $datacenter",
    ),
    Case(
        "analysis-metric-without-limit",
        catalog(
            "messaging",
            setitem(
                ["rollout"],
                {
                    "analysis": {
                        "requests": 'sum(r{pod=~"$pods"})',
                        "metrics": [{"name": "errors", "query": 'sum(e{pod=~"$pods"})'}],
                    }
                },
            ),
        ),
        MSG,
        "rollout.analysis.metrics[0]",
        "metric errors judges nothing; set max, max_increase or max_ratio",
    ),
    Case(
        "analysis-last-wave-unjudged",
        catalog(
            "messaging",
            setitem(
                ["rollout"],
                {
                    "analysis": {
                        "requests": 'sum(r{pod=~"$pods"})',
                        "metrics": [{"name": "errors", "query": 'sum(e{pod=~"$pods"})', "max_ratio": 1.5}],
                    }
                },
            ),
        ),
        MSG,
        "rollout.analysis",
        "the last wave, with no old pods left to compare with, could not be judged; set max on",
    ),
    Case(
        "analysis-metrics-without-requests",
        catalog(
            "messaging",
            setitem(
                ["rollout"],
                {"analysis": {"metrics": [{"name": "errors", "query": 'sum(e{pod=~"$pods"})', "max": 1}]}},
            ),
        ),
        MSG,
        "rollout.analysis",
        "add the PromQL counting each side's requests in $window",
    ),
    Case(
        "analysis-bake-too-short",
        catalog("messaging", setitem(["rollout"], {"analysis": {"bake_s": 5}})),
        MSG,
        "rollout.analysis.bake_s",
        "greater than or equal to 30",
    ),
    Case(
        "unknown-dc-key",
        dc1(lambda d: d.update({"availabilty_zones": []})),
        DC1,
        f"{DCKEY}.availabilty_zones",
        "did you mean 'availability_zones'",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_input_names_file_field_and_fix(project: ProjectCopy, case: Case) -> None:
    case.mutate(project)
    with pytest.raises(CatalogError) as caught:
        load_deployment(project.root, "dc1")
    matching = [p for p in caught.value.problems if p.file == case.file and p.field == case.field]
    assert matching, f"no problem at {case.file}: {case.field!r}; got:\n{caught.value}"
    assert any(case.says in p.message for p in matching), str(caught.value)


def test_yaml_syntax_error_names_line(project: ProjectCopy) -> None:
    project.write("catalog/messaging.yaml", "name: messaging\npods: [unclosed\n")
    with pytest.raises(CatalogError) as caught:
        load_deployment(project.root, "dc1")
    assert caught.value.problems[0].file == MSG
    assert caught.value.problems[0].field.startswith("line ")


def test_duplicate_yaml_key_is_refused(project: ProjectCopy) -> None:
    project.write("catalog/messaging.yaml", (project.root / MSG).read_text() + "owner: someone-else\n")
    with pytest.raises(CatalogError, match="duplicate key 'owner'"):
        load_deployment(project.root, "dc1")


def test_duplicate_service_name_across_files(project: ProjectCopy) -> None:
    project.write("catalog/chat.yaml", (project.root / MSG).read_text())
    with pytest.raises(CatalogError) as caught:
        load_deployment(project.root, "dc1")
    fields = {(p.file, p.field) for p in caught.value.problems}
    assert ("catalog/chat.yaml", "name") in fields


def test_all_problems_of_all_files_are_reported_at_once(project: ProjectCopy) -> None:
    catalog("messaging", setitem(["pods", "count"], 0))(project)
    catalog("meetings-media", setitem(["owner"], ""))(project)
    with pytest.raises(CatalogError) as caught:
        load_deployment(project.root, "dc1")
    assert {p.file for p in caught.value.problems} == {MSG, "catalog/meetings-media.yaml"}


def test_service_for_other_datacenter_is_not_checked_against_this_one(project: ProjectCopy) -> None:
    # telepresence-gateway runs in dc1 only: dc2 may lack its flavor without an error.
    project.edit_datacenter("dc2", lambda d: d["flavors"].pop("m1.media") and None)
    project.edit("catalog/meetings-media.yaml", setitem(["datacenters"], ["dc1"]))
    deployment = load_deployment(project.root, "dc2")
    assert "telepresence-gateway" not in {s.service.name for s in deployment.services}


def test_a_yml_file_is_not_silently_ignored(project: ProjectCopy) -> None:
    (project.root / "catalog/messaging.yaml").rename(project.root / "catalog/messaging.yml")
    with pytest.raises(CatalogError, match=r"catalog/messaging.yml: only \*.yaml files are read"):
        load_deployment(project.root, "dc1")
