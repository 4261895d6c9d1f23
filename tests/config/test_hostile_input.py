"""Mistaken and hostile input: a clear CatalogError naming file, field and fix; never a traceback, a hang,
unbounded memory, or a wrong value accepted silently. One test (or parameter) per class of issue 12."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from tests.conftest import ProjectCopy
from webex_cloud.config import loader
from webex_cloud.config.errors import CatalogError, Problem
from webex_cloud.config.loader import load_deployment
from webex_cloud.config.yaml_source import MAX_ALIAS_VALUES, MAX_DEPTH, parse_yaml

MSG = "catalog/messaging.yaml"
DC1 = "stacks/Pulumi.dc1.yaml"
DCKEY = "config.webex-cloud:datacenter"


def problems(project: ProjectCopy, stack: str = "dc1") -> list[Problem]:
    with pytest.raises(CatalogError) as caught:
        load_deployment(project.root, stack)
    assert caught.value.problems
    return caught.value.problems


def assert_problem(found: list[Problem], field: str, says: str) -> None:
    assert any(p.field == field and says in p.message for p in found), found


def replace_line(project: ProjectCopy, relative: str, old: str, new: str) -> None:
    text = (project.root / relative).read_text()
    assert old in text, f"{old!r} not in {relative}"
    project.write(relative, text.replace(old, new, 1))


# --- YAML 1.1 numbers and booleans: what the author wrote, or an error --------------------------------

AMBIGUOUS = [
    # (file, original text, replacement, field path, words of the message)
    (MSG, "ports: 443,", "ports: 0443,", "network.ingress[0].ports", "YAML 1.1 reads int 291"),
    (MSG, "ports: 22,", "ports: 22:23,", "network.ingress[2].ports", "YAML 1.1 reads int 1343"),
    (MSG, "size_gb: 500", "size_gb: 0500", "volume_groups[0].size_gb", "YAML 1.2 reads int 500"),
    (MSG, "replicas: 3", "replicas: yes", "volume_groups[0].replicas", "write true or false"),
    (MSG, "count: 3\n", "count: on\n", "pods.count", "is a boolean in YAML 1.1"),
    (MSG, "count: 3\n", "count: 0x3\n", "pods.count", "plain decimal"),
    (MSG, "count: 3\n", "count: 1_0\n", "pods.count", "plain decimal"),
    (MSG, "description: Team", "description: 2026-02-30 Team", None, None),  # text: fine
    (
        MSG,
        "description: Team messaging and presence, with a replicated message store",
        "description: 2026-02-30",
        "description",
        "read as a date",
    ),
    (
        DC1,
        "vcpus: 48, ram_mb: 196608, availability_zone: dc1-az1}",
        "vcpus: 060, ram_mb: 196608, availability_zone: dc1-az1}",
        f"{DCKEY}.hosts[0].vcpus",
        "the Pulumi CLI (yaml.v3) reads int 48",
    ),
    (
        DC1,
        "ssh_user: deploy ",
        "ssh_port: 0022\n      ssh_user: deploy ",
        f"{DCKEY}.controllers.ssh_port",
        "reads int 18",
    ),
    (
        DC1,
        "ssh_user: deploy ",
        "octavia: off\n      ssh_user: deploy ",
        f"{DCKEY}.controllers.octavia",
        "write true or false",
    ),
]


@pytest.mark.parametrize(("file", "old", "new", "field", "says"), AMBIGUOUS)
def test_yaml_11_forms_are_what_the_author_wrote_or_an_error(
    project: ProjectCopy, file: str, old: str, new: str, field: str | None, says: str | None
) -> None:
    replace_line(project, file, old, new)
    if field is None or says is None:
        load_deployment(project.root, "dc1")
        return
    found = problems(project)
    assert [p for p in found if p.file == file and p.field == field and says in p.message], found


def test_the_stack_files_forms_are_checked_also_when_the_engine_hands_the_config_over(
    project: ProjectCopy,
) -> None:
    # Under `pulumi up` the CLI has already read 0060 as 48: the raw file must still be refused, or
    # the offline plan (which refuses it) and the deployment would disagree.
    raw = project.load(DC1)["config"]["webex-cloud:datacenter"]
    replace_line(
        project,
        DC1,
        "vcpus: 48, ram_mb: 196608, availability_zone: dc1-az1}",
        "vcpus: 060, ram_mb: 196608, availability_zone: dc1-az1}",
    )
    with pytest.raises(CatalogError, match=r"hosts\[0\]\.vcpus"):
        load_deployment(project.root, "dc1", raw)


@pytest.mark.parametrize(
    ("value", "says"),
    [("true", "valid integer"), ("2.0", "valid integer"), ("'3'", "valid integer")],
)
def test_counts_refuse_booleans_floats_and_text(project: ProjectCopy, value: str, says: str) -> None:
    replace_line(project, MSG, "count: 3\n", f"count: {value}\n")
    found = problems(project)
    assert any(p.field == "pods.count" and says in p.message for p in found), found


# --- Crashes: each a CatalogError, in bounded time -----------------------------------------------------


def _nested_mappings(depth: int) -> str:
    return "name: messaging\nx:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, depth))


def _alias_bomb() -> str:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    return "\n".join(lines) + "\n"


CRASHES: list[tuple[str, str, str]] = [
    ("impossible-date", "name: messaging\ndescription: 2026-02-30\n", "read as a date"),
    ("int-tag-on-text", "name: messaging\npods: {count: !!int two}\n", "not a valid !!int"),
    ("python-tag", "name: !!python/object:os.system messaging\n", "is not supported"),
    ("custom-tag", "name: !shell messaging\n", "is not supported"),
    ("set-tag", "name: messaging\npods: !!set {a}\n", "is not supported"),
    ("1000-nested-mappings", _nested_mappings(1000), f"nested more than {MAX_DEPTH} levels"),
    ("30000-nested-lists", "name: " + "[" * 30000, f"nested more than {MAX_DEPTH} levels"),
    ("alias-bomb", _alias_bomb(), f"more than {MAX_ALIAS_VALUES} values"),
    ("recursive-alias", "a: &a [*a]\n", "names no anchor defined before it"),
    ("two-documents", "name: a\n---\nname: b\n", "one YAML document"),
    ("list-as-key", "? [a, b]\n: 1\n", "a key must be text"),
    ("duplicate-key", "name: a\nname: b\n", "duplicate key 'name'"),
]


@pytest.mark.parametrize(("text", "says"), [c[1:] for c in CRASHES], ids=[c[0] for c in CRASHES])
def test_hostile_yaml_is_a_catalog_error(project: ProjectCopy, text: str, says: str) -> None:
    project.write(MSG, text)
    found = problems(project)
    assert any(p.file == MSG and says in p.message for p in found), found


def test_a_broken_peer_stack_file_stops_the_other_stacks_plan_naming_it(project: ProjectCopy) -> None:
    """dc1's peer-dc source is every peer's pool: planned without dc2's, a dc1 deploy would cut dc2 off."""
    replace_line(project, "stacks/Pulumi.dc2.yaml", "name: dc2", "name: dc2\n    description: 2026-02-30")
    found = problems(project, "dc1")
    assert any(p.file == "stacks/Pulumi.dc2.yaml" and "peer-dc" in p.message for p in found), found
    assert any(p.file == "stacks/Pulumi.dc2.yaml" and "read as a date" in p.message for p in found)
    assert any("read as a date" in p.message for p in problems(project, "dc2"))


def test_a_valid_merge_override_is_not_a_duplicate_key() -> None:
    text = "base: &base {count: 2, role: app}\nmember:\n  <<: *base\n  count: 3\n"
    assert parse_yaml(text, "f.yaml") == {
        "base": {"count": 2, "role": "app"},
        "member": {"count": 3, "role": "app"},
    }
    with pytest.raises(CatalogError, match="duplicate key 'count'"):
        parse_yaml("m:\n  count: 1\n  count: 2\n", "f.yaml")


def test_a_catalog_file_linked_to_dev_zero_is_refused_without_reading_it(project: ProjectCopy) -> None:
    os.symlink("/dev/zero", project.root / "catalog/zero.yaml")
    found = problems(project)
    assert any(p.file == "catalog/zero.yaml" and "not a regular file" in p.message for p in found), found


def test_a_fifo_in_the_catalog_is_refused_without_blocking(project: ProjectCopy) -> None:
    os.mkfifo(project.root / "catalog/x.yaml")
    found = problems(project)  # opening it for reading would block forever without O_NONBLOCK
    assert any(p.file == "catalog/x.yaml" and "not a regular file" in p.message for p in found), found


def test_a_folder_named_like_a_service_file_is_refused(project: ProjectCopy) -> None:
    (project.root / "catalog/folder.yaml").mkdir()
    found = problems(project)
    assert any(p.file == "catalog/folder.yaml" and "is a folder" in p.message for p in found), found


def test_an_oversized_file_is_refused_before_it_is_read(
    project: ProjectCopy, monkeypatch: pytest.MonkeyPatch
) -> None:
    from webex_cloud.config import yaml_source

    monkeypatch.setattr(yaml_source, "MAX_FILE_BYTES", 100)
    found = problems(project)
    assert any("files larger than 100 are refused" in p.message for p in found), found


# --- Accepted silently before: now refused with the fix ---------------------------------------------


def test_resource_names_colliding_across_services_name_both_files(project: ProjectCopy) -> None:
    def add_recording(data: dict[str, Any]) -> None:
        data.update(name="recording")
        data["volume_groups"][0]["name"] = "storage-recordings"

    project.write("catalog/recording.yaml", (project.root / MSG).read_text())
    project.edit("catalog/recording.yaml", add_recording)
    found = problems(project)
    collisions = [p for p in found if "same resource name" in p.message]
    assert collisions, found
    assert any(
        "'recording-storage-recordings'" in p.message
        and {p.file} | set(re.findall(r"catalog/[a-z-]+\.yaml", p.message))
        == {"catalog/recording.yaml", "catalog/recording-storage.yaml"}
        for p in collisions
    ), collisions


def test_a_mistyped_pin_names_the_closest_service(project: ProjectCopy) -> None:
    def typo(dc: dict[str, Any]) -> None:
        dc["subnets"]["mesaging"] = dc["subnets"].pop("messaging")

    project.edit_datacenter("dc1", typo)
    assert_problem(problems(project), f"{DCKEY}.subnets.mesaging", "did you mean 'messaging'")


def test_the_pin_of_a_removed_service_is_kept(project: ProjectCopy) -> None:
    project.edit_datacenter("dc1", lambda dc: dc["subnets"].update({"retired-chat": "10.10.5.0/24"}))
    load_deployment(project.root, "dc1")


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("openstack:password", "hunter2", "pulumi config set --secret --stack dc1 openstack:password"),
        ("openstack:token", "gAAAA", "clouds.yaml"),
        (
            "webex-cloud:controllerSshKey",
            "ssh-key-text",
            "CONTROLLER_SSH_KEY of the GitHub environment production-dc1",
        ),
        ("webex-cloud:controllerSshKey", {"secure": "v1:abc"}, "not a stack setting, not even encrypted"),
        ("webex-cloud:notes", "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n", "a private key in plaintext"),
    ],
)
def test_plaintext_credentials_in_a_stack_file_are_refused(
    project: ProjectCopy, key: str, value: object, says: str
) -> None:
    project.edit(DC1, lambda doc: doc["config"].update({key: value}))
    found = problems(project)
    assert any(p.file == DC1 and p.field == f"config.{key}" and says in p.message for p in found), found


def test_encrypted_secrets_are_fine(project: ProjectCopy) -> None:
    project.edit(DC1, lambda doc: doc["config"].update({"openstack:password": {"secure": "v1:abc"}}))
    load_deployment(project.root, "dc1")


def test_a_pod_is_compared_with_each_host_not_the_largest_of_each_kind(project: ProjectCopy) -> None:
    # Host 1 has the vCPUs, host 2 the RAM: no single host has both, so no host can take the pod.
    def hosts(dc: dict[str, Any]) -> None:
        dc["hosts"] = [
            {
                "name": f"h{i}",
                "vcpus": 64 if i % 2 else 4,
                "ram_mb": 4096 if i % 2 else 262144,
                "availability_zone": dc["availability_zones"][i % 2],
            }
            for i in range(8)
        ]

    project.edit_datacenter("dc1", hosts)
    found = problems(project)
    assert any(
        p.file == MSG and p.field == "pods.members" and "no host in dc1 has both" in p.message for p in found
    ), found


def test_duplicate_availability_zones_are_refused(project: ProjectCopy) -> None:
    project.edit_datacenter("dc1", lambda dc: dc["availability_zones"].append("dc1-az1"))
    found = problems(project)
    assert any(p.field == f"{DCKEY}.availability_zones[2]" and "listed twice" in p.message for p in found)


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        (lambda c: c.update(vip="10.250.1.0"), "controllers.vip", "network address"),
        (lambda c: c.update(vip="10.250.1.255"), "controllers.vip", "broadcast address"),
        (
            lambda c: c["proxies"].update(addresses=["10.250.1.0", "10.250.1.14"]),
            "controllers.proxies.addresses[0]",
            "network address",
        ),
    ],
)
def test_an_api_front_address_must_be_a_host_address(
    project: ProjectCopy, change: Callable[[dict[str, Any]], object], field: str, says: str
) -> None:
    project.edit_datacenter("dc1", lambda dc: change(dc["controllers"]))
    found = problems(project)
    assert any(p.field == f"{DCKEY}.{field}" and says in p.message for p in found), found


def test_an_api_vip_inside_a_service_subnet_is_refused(project: ProjectCopy) -> None:
    def move(dc: dict[str, Any]) -> None:
        dc["controllers"]["management"]["cidr"] = "10.10.129.0/24"  # messaging's pinned subnet
        dc["controllers"]["vip"] = "10.10.129.10"
        dc["controllers"]["hosts"][0]["address"] = "10.10.129.11"
        dc["controllers"]["hosts"][1]["address"] = "10.10.129.12"
        dc["controllers"]["proxies"]["addresses"] = ["10.10.129.13", "10.10.129.14"]

    project.edit_datacenter("dc1", move)
    assert_problem(problems(project), f"{DCKEY}.controllers.vip", "inside subnets.messaging")


# --- All problems at once ------------------------------------------------------------------------------


def test_every_controller_problem_is_reported_at_once(project: ProjectCopy) -> None:
    def break_all(c: dict[str, Any]) -> None:
        c["hosts"][1]["name"] = c["hosts"][0]["name"]
        c["vip"] = "10.99.0.1"
        c["proxies"].update(flavor="m9.huge", addresses=["10.250.1.11", "10.250.1.14"])
        c["api_sources"] = ["nowhere"]

    project.edit_datacenter("dc1", lambda dc: break_all(dc["controllers"]))
    fields = {p.field.removeprefix(f"{DCKEY}.controllers.") for p in problems(project)}
    assert {"hosts", "vip", "proxies.flavor", "api_sources[0]", "hosts[0].address"} <= fields, fields


def test_cross_file_checks_run_over_the_files_that_passed(project: ProjectCopy) -> None:
    project.edit("catalog/messaging.yaml", lambda d: d["pods"].update(count=0))  # schema error
    project.edit("catalog/meetings-media.yaml", lambda d: d["pods"]["members"][0].update(flavor="m9"))
    found = problems(project)
    assert any(p.file == MSG and p.field == "pods.count" for p in found)
    assert any(p.file == "catalog/meetings-media.yaml" and "m9" in p.message for p in found), found


def test_a_schema_error_in_the_stack_does_not_hide_the_catalogs_problems(project: ProjectCopy) -> None:
    project.edit_datacenter("dc1", lambda dc: dc.update(region=5))
    project.edit("catalog/messaging.yaml", lambda d: d["pods"].update(count=0))
    files = {p.file for p in problems(project)}
    assert files == {DC1, MSG}


@pytest.mark.parametrize(
    ("file_name", "says"),
    [
        ("chat", "set name: chat or rename the file to messaging.yaml"),
        ("Chat_Room", "rename the file to messaging.yaml ('Chat_Room' is not a valid service name)"),
    ],
)
def test_the_file_name_mismatch_fix_is_a_valid_name(project: ProjectCopy, file_name: str, says: str) -> None:
    os.rename(project.root / MSG, project.root / f"catalog/{file_name}.yaml")
    found = problems(project)
    assert any(p.field == "name" and says in p.message for p in found), found


def test_field_paths_carry_no_pydantic_internals(project: ProjectCopy) -> None:
    project.edit_datacenter("dc1", lambda dc: dc["sources"].update(any=["nope"]))
    found = problems(project)
    assert [p.field for p in found] == [f"{DCKEY}.sources.any[0]"], found
    assert "IPv4" in found[0].message and "IPv6" in found[0].message


def test_the_crowded_zone_check_is_exact_and_fast_with_10000_hosts(project: ProjectCopy) -> None:
    def many(dc: dict[str, Any]) -> None:
        # az1 gets 4 hosts, az2 the rest: pod i goes to zone i % 2, so az1's fifth pod is pod 8: 8 at most.
        dc["hosts"] = [
            {
                "name": f"h{i}",
                "vcpus": 48,
                "ram_mb": 196608,
                "availability_zone": "dc1-az1" if i < 4 else "dc1-az2",
            }
            for i in range(10_000)
        ]

    project.edit_datacenter("dc1", many)
    project.edit("catalog/messaging.yaml", lambda d: d["pods"].update(count=12))
    found = problems(project)
    assert (
        "12 pods spread over 2 zones put 6 in dc1-az1, which has 4 hosts (two pods never share a host); "
        "use at most 8"
    ) in [p.message for p in found if p.field == "pods.count" and p.file == MSG]


def test_max_pods_is_the_largest_count_that_fits() -> None:
    dc: Any = type("DC", (), {"availability_zones": ["a", "b", "c"]})()
    capacity = loader._Capacity(hosts_per_zone={"a": 2, "b": 1, "c": 5}, shapes=())
    best = loader._max_pods(dc, capacity)
    fits = [
        n for n in range(1, 30) if all(p <= h for p, h in loader._pods_per_zone(n, dc, capacity).values())
    ]
    assert best == max(fits) == 4


def test_yaml_of_the_example_files_is_unchanged(project: ProjectCopy) -> None:
    # The strict reader reads the example files exactly as PyYAML does (no form in them is ambiguous).
    for path in [
        *sorted((project.root / "catalog").glob("*.yaml")),
        *sorted((project.root / "stacks").glob("*.yaml")),
    ]:
        assert parse_yaml(path.read_text(), path.name) == yaml.safe_load(path.read_text())


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda dc: dc["controllers"].update(vip=167837962), "controllers.vip"),
        (lambda dc: dc["controllers"]["hosts"][0].update(address=5), "controllers.hosts[0].address"),
        (
            lambda dc: dc["controllers"]["proxies"].update(addresses=[True, 7]),
            "controllers.proxies.addresses[0]",
        ),
        (lambda dc: dc.update(cidr_pool=4), "cidr_pool"),
        (lambda dc: dc["subnets"].update(messaging=168427520), "subnets.messaging"),
    ],
)
def test_a_number_is_never_read_as_an_address(
    project: ProjectCopy, change: Callable[[dict[str, Any]], object], field: str
) -> None:
    # pydantic alone reads 5 as 0.0.0.5 and True as 0.0.0.1.
    project.edit_datacenter("dc1", change)
    assert_problem(problems(project), f"{DCKEY}.{field}", "write the address as text")
