"""The controller pair's rendered texts, without Pulumi: HAProxy, keepalived, cloud-init, deploy profile."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO
from webex_cloud.config.loader import load_deployment
from webex_cloud.config.models import ControllerPlane
from webex_cloud.controller import front_config


@pytest.fixture(scope="module")
def plane() -> ControllerPlane:
    return load_deployment(REPO, "dc1").datacenter.controllers


def test_haproxy_listens_on_the_vip_per_api_port_over_both_controllers(plane: ControllerPlane) -> None:
    text = front_config.haproxy_config(plane)
    assert plane.api_ports and len(plane.hosts) == 2
    for port in plane.api_ports:
        assert f"listen api-{port}\n  bind {plane.vip}:{port}\n" in text
        for host in plane.hosts:
            assert f"  server {host.name} {host.address}:{port} check" in text


def test_keepalived_prefers_proxy_zero_and_peers_with_the_other(plane: ControllerPlane) -> None:
    assert plane.proxies is not None
    first, second = plane.proxies.addresses
    zero = front_config.keepalived_config(plane, 0, 7)
    one = front_config.keepalived_config(plane, 1, 7)
    assert "priority 150" in zero and "priority 100" in one
    assert f"unicast_src_ip {first}\n  unicast_peer {{ {second} }}" in zero
    assert f"unicast_src_ip {second}\n  unicast_peer {{ {first} }}" in one
    assert f"virtual_ipaddress {{ {plane.vip} }}" in zero and "virtual_router_id 7" in one


def test_keepalived_is_refused_for_an_octavia_plane(plane: ControllerPlane) -> None:
    octavia = plane.model_copy(update={"octavia": True, "proxies": None})
    with pytest.raises(ValueError, match="Octavia"):
        front_config.keepalived_config(octavia, 0, 1)


def test_the_proxy_user_data_writes_both_configs_and_starts_both_daemons(plane: ControllerPlane) -> None:
    text = front_config.proxy_user_data(plane, 1)
    assert text.startswith("#cloud-config\n")
    document = json.loads(text.removeprefix("#cloud-config\n"))
    files = {f["path"]: f["content"] for f in document["write_files"]}
    assert files["/etc/haproxy/haproxy.cfg"] == front_config.haproxy_config(plane)
    assert files["/etc/keepalived/keepalived.conf"] == front_config.keepalived_config(
        plane, 1, int(plane.vip) % 255 + 1
    )
    assert ["systemctl", "restart", "haproxy", "keepalived"] in document["runcmd"]


def test_the_deploy_profile_names_both_schedulers_and_their_filter_options(plane: ControllerPlane) -> None:
    profile = json.loads(front_config.deploy_profile(plane, plane.hosts[0]))
    assert profile["controller"] == plane.hosts[0].name
    services = {s["name"]: s for s in profile["services"]}
    assert set(services) == {"nova-scheduler", "cinder-scheduler"}
    assert services["nova-scheduler"]["filters_option"] == front_config.FILTER_OPTIONS["nova"]
    assert services["cinder-scheduler"]["path"] == plane.deploy.cinder.fragment_path


def test_the_renderers_need_no_pulumi() -> None:
    code = "import sys, webex_cloud.controller.front_config; sys.exit('pulumi' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, check=False, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr or "front_config imports pulumi"
