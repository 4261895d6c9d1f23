"""What the deploy runs as root on the controllers is typed, never a command line from the stack file.

The stack file names a systemd unit and an action from a short list; the restart and health commands
are built from them. Paths are validated, and every value written into an oslo.config file is free of
what oslo.config would interpret.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from webex_scheduler_filters import render

from tests.conftest import ProjectCopy
from webex_cloud.config.errors import CatalogError
from webex_cloud.config.loader import DATACENTER_KEY, load_deployment
from webex_cloud.config.models import SchedulerUnit
from webex_cloud.controller.front_config import deploy_profile

FIELD = f"config.{DATACENTER_KEY}.controllers"


def problems(project: ProjectCopy) -> list[Any]:
    with pytest.raises(CatalogError) as caught:
        load_deployment(project.root, "dc1")
    return caught.value.problems


def deploy(change: dict[str, Any]) -> Any:
    return lambda dc: dc["controllers"].setdefault("deploy", {}).update(change)


@pytest.mark.parametrize(
    "nova",
    [
        {"fragment_path": "/etc/nova/x.conf", "restart": ["bash", "-c", "curl x | sh"], "health": ["true"]},
        {"fragment_path": "/etc/nova/x.conf", "restart": ["systemctl", "restart", "nova-scheduler"]},
        {"fragment_path": "/etc/nova/x.conf", "health": ["/bin/true"], "unit": "nova-scheduler"},
    ],
)
def test_a_free_command_line_is_refused_naming_the_typed_fields(
    project: ProjectCopy, nova: dict[str, Any]
) -> None:
    project.edit_datacenter("dc1", deploy({"nova": nova}))
    found = [p for p in problems(project) if p.field.startswith(f"{FIELD}.deploy.nova")]
    assert found and "no longer accepted" in found[0].message and "unit: nova-scheduler" in found[0].message


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"nova": {"fragment_path": "/etc/nova/x.conf", "unit": "nova; reboot"}}, "deploy.nova.unit"),
        ({"nova": {"fragment_path": "/etc/nova/x.conf", "unit": "--now"}}, "deploy.nova.unit"),
        (
            {"nova": {"fragment_path": "/etc/nova/x.conf", "unit": "n", "action": "stop"}},
            "deploy.nova.action",
        ),
        ({"nova": {"fragment_path": "/etc/nova/../shadow", "unit": "n"}}, "deploy.nova.fragment_path"),
        ({"nova": {"fragment_path": "/etc/nova/$(id).conf", "unit": "n"}}, "deploy.nova.fragment_path"),
        ({"python": "/bin/sh"}, "deploy.python"),
        ({"python": "/usr/bin/python3 -c 'import os'"}, "deploy.python"),
        ({"site_dir": "/opt/site dir"}, "deploy.site_dir"),
        ({"staging_dir": "/tmp/./x"}, "deploy.staging_dir"),
        ({"state_dir": "relative/state"}, "deploy.state_dir"),
    ],
)
def test_units_actions_and_paths_are_validated(
    project: ProjectCopy, change: dict[str, Any], where: str
) -> None:
    project.edit_datacenter("dc1", deploy(change))
    assert any(p.field == f"{FIELD}.{where}" for p in problems(project)), where


def test_the_profile_runs_systemctl_on_the_named_unit_only(project: ProjectCopy) -> None:
    nova = {
        "fragment_path": "/etc/nova/n.d/50.conf",
        "unit": "devstack@n-sch.service",
        "action": "try-restart",
    }
    project.edit_datacenter("dc1", deploy({"nova": nova, "python": "/usr/bin/python3.11"}))
    plane = load_deployment(project.root, "dc1").datacenter.controllers
    profile = json.loads(deploy_profile(plane, plane.hosts[0]))
    services = {s["name"]: s for s in profile["services"]}
    assert services["nova-scheduler"]["restart"] == ["systemctl", "try-restart", "devstack@n-sch.service"]
    assert services["nova-scheduler"]["health"] == [
        "systemctl",
        "is-active",
        "--quiet",
        "devstack@n-sch.service",
    ]
    assert services["cinder-scheduler"]["restart"] == ["systemctl", "restart", "cinder-scheduler"]
    assert profile["python"] == "/usr/bin/python3.11"


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_any_accepted_unit_is_one_argument_that_is_no_option(unit: str) -> None:
    try:
        parsed = SchedulerUnit(fragment_path="/etc/x.conf", unit=unit)
    except ValueError:
        return
    argv = parsed.restart_argv()
    assert argv[:2] == ["systemctl", "restart"] and argv[2] == unit.strip()
    assert not unit.strip().startswith("-") and not set(unit.strip()) & set(" \t\n;|&$`'\"<>()\\")


@pytest.mark.parametrize(
    "name", ["$my_filters", "${DEFAULT.x}", "Compute,Evil", "Compute\nFilter", "1Filter"]
)
def test_filter_names_oslo_would_interpret_are_refused(project: ProjectCopy, name: str) -> None:
    project.edit_datacenter("dc1", deploy({"nova_filters": ["ComputeFilter", name]}))
    assert any(p.field == f"{FIELD}.deploy.nova_filters[1]" for p in problems(project))


@pytest.mark.parametrize("value", ["$opt", "${group.opt}", "a\nb = c", "x,y"])
def test_every_value_the_renderer_writes_is_checked_for_oslo_syntax(value: str) -> None:
    with pytest.raises(ValueError, match=r"cannot be written to an oslo\.config file"):
        render.nova_scheduler_conf(["ComputeFilter", value])
    with pytest.raises(ValueError, match=r"cannot be written to an oslo\.config file"):
        render.cinder_scheduler_conf([value])
    if "$" in value:  # the map is JSON: a line break is escaped there, a comma is JSON's own
        with pytest.raises(ValueError, match=r"cannot be written to an oslo\.config file"):
            render.cinder_scheduler_conf(failure_domains={value: ["cinder-a@ceph-a"]})


@pytest.mark.parametrize(
    "key",
    [
        "yes",
        "ssh-ed25519",
        "ssh-ed25519 not-base64!",
        "ssh-dss AAAAB3NzaC1kc3MAAACBAP",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOther",
    ],
)
def test_a_host_key_that_is_no_public_key_line_is_refused(project: ProjectCopy, key: str) -> None:
    project.edit_datacenter("dc1", lambda dc: dc["controllers"]["hosts"][0].update(host_key=key))
    assert any(p.field == f"{FIELD}.hosts[0].host_key" for p in problems(project))


@pytest.mark.parametrize(
    ("address", "says"),
    [("10.250.9.11", "outside management.cidr"), ("10.10.129.11", "outside management.cidr")],
)
def test_a_controller_address_outside_the_management_network_is_refused(
    project: ProjectCopy, address: str, says: str
) -> None:
    project.edit_datacenter("dc1", lambda dc: dc["controllers"]["hosts"][1].update(address=address))
    found = [p for p in problems(project) if p.field == f"{FIELD}.hosts[1].address"]
    assert found and says in found[0].message


def test_a_controller_address_inside_a_service_subnet_is_refused_even_on_that_network(
    project: ProjectCopy,
) -> None:
    def move(dc: dict[str, Any]) -> None:
        dc["controllers"]["management"]["cidr"] = "10.10.0.0/16"  # the pool itself
        dc["controllers"]["vip"] = "10.10.250.10"
        dc["controllers"]["proxies"]["addresses"] = ["10.10.250.13", "10.10.250.14"]
        dc["controllers"]["hosts"][0]["address"] = "10.10.129.11"  # messaging's pinned subnet

    project.edit_datacenter("dc1", move)
    found = [p for p in problems(project) if p.field == f"{FIELD}.hosts[0].address"]
    assert found and "inside subnets.messaging" in found[0].message
