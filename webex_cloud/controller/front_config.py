"""The text the controller pair's resources carry: HAProxy, keepalived, cloud-init, the deploy profile.

Pure functions of the validated stack config (no Pulumi), so each rendering is tested on its own;
webex_cloud/components/controller_front.py and controller_rollout.py put them into resources.
"""

from __future__ import annotations

import json
from typing import Final

from webex_cloud.config.models import Controller, ControllerPlane, SchedulerUnit

FILTER_OPTIONS: Final = {"nova": "filter_scheduler.enabled_filters", "cinder": "scheduler_default_filters"}
"""Option of each fragment that lists the enabled filters (what the health check expects loaded)."""


def haproxy_config(plane: ControllerPlane) -> str:
    """HAProxy: each API port on the VIP, balanced over both controllers with TCP health checks."""
    lines = [
        "global",
        "  daemon",
        "defaults",
        "  mode tcp",
        "  timeout connect 5s",
        "  timeout client 300s",
        "  timeout server 300s",
    ]
    for port in plane.api_ports:
        lines += [f"listen api-{port}", f"  bind {plane.vip}:{port}", "  balance roundrobin"]
        lines += [f"  server {h.name} {h.address}:{port} check inter 2s fall 3 rise 2" for h in plane.hosts]
    return "\n".join(lines) + "\n"


def keepalived_config(plane: ControllerPlane, index: int, virtual_router_id: int) -> str:
    """keepalived: unicast VRRP between the two proxies; proxy 0 is preferred, the VIP follows HAProxy."""
    if plane.proxies is None:
        raise ValueError("keepalived runs on the proxies; this controller plane uses Octavia")
    me, peer = plane.proxies.addresses[index], plane.proxies.addresses[1 - index]
    return (
        'vrrp_script haproxy { script "/usr/bin/killall -0 haproxy" interval 2 fall 2 rise 2 }\n'
        "vrrp_instance api {\n"
        f"  state BACKUP\n  interface eth0\n  virtual_router_id {virtual_router_id}\n"
        f"  priority {150 - 50 * index}\n  nopreempt\n"
        f"  unicast_src_ip {me}\n  unicast_peer {{ {peer} }}\n"
        f"  virtual_ipaddress {{ {plane.vip} }}\n  track_script {{ haproxy }}\n"
        "}\n"
    )


def proxy_user_data(plane: ControllerPlane, index: int) -> str:
    """cloud-init of proxy ``index``: the two configs, then both daemons started."""
    files = {
        "/etc/haproxy/haproxy.cfg": haproxy_config(plane),
        "/etc/keepalived/keepalived.conf": keepalived_config(plane, index, int(plane.vip) % 255 + 1),
        # HAProxy binds the VIP on the backup proxy too, before keepalived has moved it there.
        "/etc/sysctl.d/60-vip.conf": "net.ipv4.ip_nonlocal_bind = 1\n",
    }
    document = {
        "write_files": [{"path": path, "content": content} for path, content in files.items()],
        "runcmd": [["sysctl", "--system"], ["systemctl", "restart", "haproxy", "keepalived"]],
    }
    return "#cloud-config\n" + json.dumps(document, indent=1, sort_keys=True) + "\n"


def deploy_profile(plane: ControllerPlane, controller: Controller) -> str:
    """The deploy script's profile of one controller (JSON; see controller/remote/rolling_deploy.py)."""
    deploy = plane.deploy

    def service(name: str, fragment: str, unit: SchedulerUnit) -> dict[str, object]:
        return {
            "name": name,
            "fragment": fragment,
            "path": unit.fragment_path,
            "filters_option": FILTER_OPTIONS[fragment],
            "restart": unit.restart_argv(),
            "health": unit.health_argv(),
        }

    profile = {
        "controller": controller.name,
        "python": deploy.python,
        "site_dir": deploy.site_dir,
        "state_dir": deploy.state_dir,
        "health_timeout": deploy.health_timeout_s,
        "services": [
            service("nova-scheduler", "nova", deploy.nova),
            service("cinder-scheduler", "cinder", deploy.cinder),
        ],
    }
    return json.dumps(profile, indent=1, sort_keys=True) + "\n"
