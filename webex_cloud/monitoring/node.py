"""What a monitoring node the stack deploys boots with: cloud-init user data that installs Debian's
packages and puts the generated files in place.

The files are the ones ``python -m webex_cloud monitoring --stack S`` writes (render.py), less the
promtool unit tests: ``prometheus.yml``, ``alertmanager.yml``, ``blackbox.yml`` and ``rules/``, under
``/etc/prometheus/``, where Debian bookworm's packages read them (``prometheus`` 2.42: the unit's default
``--config.file``; ``prometheus-alertmanager`` 0.25 likewise; ``prometheus-blackbox-exporter`` 0.23:
``ARGS="--config.file /etc/prometheus/blackbox.yml"`` in ``/etc/default/prometheus-blackbox-exporter``).
``prometheus-node-exporter`` serves the live facts from its textfile directory
(``/var/lib/prometheus/node-exporter``, its Debian default; docs/monitoring.md).

They are staged under :data:`STAGING` by ``write_files`` and installed by ``runcmd`` once the packages
are in: cloud-init runs ``runcmd`` in its final stage, after the package module, and a file put at a
package's conffile path before the package is installed would make dpkg ask what to keep. Prometheus runs
with ``--web.enable-lifecycle``, so that ``monitoring --reload`` applies every later change without a
restart (Nova cannot change the user data of a running server: a change here is for the next node
built, never a reason to rebuild one). The two Alertmanagers gossip on :data:`CLUSTER_PORT` so that
an alert both receive is sent once (:func:`alertmanager_args`).

The deploy reloads a node over SSH as :data:`DEPLOY_USER` (``monitoring --reload-nodes``,
monitoring_ops/reload.py): the user data creates that login, without a password, authorising only
``monitoring.instances.deploy_key`` (the public half of the datacenter's deploy key), and gives it the
folders the generated files live in (``/etc/prometheus`` and its ``rules/``; ``secrets/`` stays root's),
so it can rename new files over the old ones; ``curl`` lets it reach Prometheus and Alertmanager on the
node's loopback through that one login.

Nothing secret is in the user data (anyone who may read the server's user data would read it): the
receivers' key files and the reader identity Prometheus discovers instances with are placed by the
deploy over the same login (monitoring/secrets.py): the user data only installs the root helper that
puts them in ``/etc/prometheus/secrets`` (mode 0600, the ``prometheus`` user's), the ``sudo`` rule that
lets the login run it with no argument, and the unit drop-in that gives Prometheus the reader's
environment file.
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import yaml

from webex_cloud.config.models import LogShipping
from webex_cloud.config.resolved import Deployment
from webex_cloud.facts import metrics
from webex_cloud.monitoring import contract as c
from webex_cloud.monitoring import facts_login, logs, secrets
from webex_cloud.monitoring.model import stack_watch
from webex_cloud.monitoring.render import DUMPER, render

PACKAGES: Final = (
    "prometheus",
    "prometheus-alertmanager",
    "prometheus-blackbox-exporter",
    "prometheus-node-exporter",
)
"""Debian bookworm's packages (the versions contract.py follows)."""
TOOLS: Final = ("curl", "sudo")
"""Installed beside the packages: the deploy's reload calls the node's APIs through ``curl``, and places
the secrets through ``sudo`` (monitoring/secrets.py)."""
CONFIG_DIR: Final = "/etc/prometheus"
DEPLOY_USER: Final = "webex-deploy"
"""The login the deploy reloads the node as; it owns the folders of the generated files."""
SSH_PORT: Final = 22
STAGING: Final = "/etc/webex-monitoring"
CLUSTER_PORT: Final = 9094
"""Alertmanager's cluster (gossip) port, TCP and UDP, its default ``--cluster.listen-address``."""
USER_DATA_LIMIT: Final = 65535
"""Nova refuses user data longer than this once base64-encoded (nova 34
``nova/api/openstack/compute/schemas/servers.py``: ``user_data`` ``maxLength`` 65535)."""


@dataclass(frozen=True)
class Peering:
    """One node of the pair as its Alertmanager's cluster sees it."""

    address: str
    """The node's own address on the management network, advertised to its partner."""
    peer: str
    """The partner's address."""


def alertmanager_args(peering: Peering | None) -> str:
    """The node's Alertmanager flags (its ``ARGS``): gossip with the partner, so that of the alerts both
    Prometheus send to both Alertmanagers one notification leaves. The notifier at cluster position N
    waits N times ``--cluster.peer-timeout`` (15 s by default) and sends only what the notification log
    gossiped by the other has not sent already (Alertmanager v0.25.0 ``cmd/alertmanager/main.go``
    ``clusterWait``, ``notify/notify.go`` ``WaitStage``, ``DedupStage``). The advertised address is
    explicit: left empty, Alertmanager advertises the private address of the default route's interface
    and refuses to start on a host with none (``cluster/advertise.go``; README "High Availability": "the
    ``cluster.advertise-address`` flag is required if the instance doesn't have an IP address that is
    part of RFC 6890 with a default route"), and the management network need not carry the default
    route. None: a single node, no cluster peer."""
    if peering is None:
        return ""
    return (
        f"--cluster.advertise-address={peering.address}:{CLUSTER_PORT} "
        f"--cluster.peer={peering.peer}:{CLUSTER_PORT}"
    )


class UserDataTooLarge(ValueError):
    """The generated monitoring does not fit in Nova's user data."""


def shipped(files: Mapping[str, str]) -> dict[str, str]:
    """The generated files a node runs: everything but the promtool unit tests."""
    return {name: text for name, text in sorted(files.items()) if not name.endswith(".test.yml")}


def _gzipped(text: str) -> str:
    # mtime 0: the same files give the same user data, so a plan does not change from run to run.
    return base64.b64encode(gzip.compress(text.encode("utf-8"), mtime=0)).decode("ascii")


def user_data(
    files: Mapping[str, str],
    peering: Peering | None,
    deploy_key: str,
    facts_key: str | None = None,
    shipping: tuple[str, LogShipping] | None = None,
) -> str:
    """cloud-config for one node; ``peering`` its address and its partner's (None: a single node);
    ``deploy_key`` the OpenSSH public key :data:`DEPLOY_USER` accepts; ``facts_key`` the one the facts
    login accepts for its forced command alone (monitoring/facts_login.py; None: no such login);
    ``shipping`` the datacenter and its ``monitoring.logs``: the instances' rsyslog drop-in, checked and
    installed as on the pods (monitoring/logs.py; None: no log shipping)."""
    defaults = {
        "prometheus": 'ARGS="--web.enable-lifecycle"\n',
        "prometheus-alertmanager": f'ARGS="{alertmanager_args(peering)}"\n',
        "prometheus-blackbox-exporter": f'ARGS="--config.file {CONFIG_DIR}/blackbox.yml"\n',
    }
    staged = [(f"{STAGING}/prometheus/{name}", text, "0644") for name, text in shipped(files).items()]
    staged += [(f"{STAGING}/default/{unit}", text, "0644") for unit, text in defaults.items()]
    # Not staged: no package owns these paths, and the helper must be in place before the login can be
    # used (a deploy right after the boot).
    staged += [
        (secrets.HELPER, secrets.helper_script(), "0755"),
        (secrets.PROMETHEUS_DROP_IN, secrets.prometheus_drop_in(), "0644"),
    ]
    facts_users: list[dict[str, object]] = []
    facts_commands: list[list[str]] = []
    if facts_key is not None:
        staged.append((facts_login.RECEIVER, facts_login.receiver_script(), "0755"))
        # No password, no sudo: the key runs the receiver and nothing else (``restrict,command=``).
        facts_users.append(
            {
                "name": facts_login.FACTS_USER,
                "shell": "/bin/sh",
                "ssh_authorized_keys": [facts_login.authorized_key(facts_key)],
            }
        )
        # The receiver renames its file into node_exporter's folder: the folder's group may write.
        facts_commands.append(
            [
                "install", "-d", "-o", "prometheus", "-g", facts_login.FACTS_USER, "-m", "0775",
                facts_login.TEXTFILE_DIR,
            ]
        )  # fmt: skip
    ship_packages: tuple[str, ...] = ()
    ship_commands: list[list[str]] = []
    if shipping is not None:
        datacenter, shipped_logs = shipping
        conf = logs.rsyslog_files(datacenter, shipped_logs)[f"{logs.FOLDER}/instances.conf"]
        staged.append((logs.STAGED, conf, "0644"))
        ship_packages = logs.packages(shipped_logs)
        ship_commands.append(["sh", "-c", logs.install_script()])
    document = {
        "package_update": True,
        "packages": [*PACKAGES, *TOOLS, *ship_packages],
        "users": [
            "default",
            # No password: cloud-init locks a new user's password unless told otherwise (``lock_passwd``
            # defaults to true, cloudinit/distros/__init__.py ``create_user``).
            {
                "name": DEPLOY_USER,
                "shell": "/bin/sh",
                "ssh_authorized_keys": [deploy_key],
                "sudo": secrets.sudo_rule(),
            },
            *facts_users,
        ],
        "write_files": [
            {"path": path, "encoding": "gz+b64", "content": _gzipped(text), "permissions": mode}
            for path, text, mode in staged
        ],
        "runcmd": [
            ["cp", "-rT", f"{STAGING}/prometheus", CONFIG_DIR],
            ["cp", "-rT", f"{STAGING}/default", "/etc/default"],
            ["chown", DEPLOY_USER, CONFIG_DIR, f"{CONFIG_DIR}/rules"],
            ["install", "-d", "-o", "root", "-g", secrets.OWNER, "-m", "0750", secrets.SECRETS_DIR],
            *facts_commands,
            ["systemctl", "daemon-reload"],
            ["systemctl", "restart", *(p for p in PACKAGES if p != "prometheus-node-exporter")],
            *ship_commands,
        ],
    }
    # libyaml's emitter (render.DUMPER): the same text (tests/monitoring/test_render_dump.py), a
    # tenth of the time; the plan renders this for both nodes of every stack.
    text = "#cloud-config\n" + yaml.dump(document, Dumper=DUMPER, sort_keys=False, width=1000)
    encoded = len(base64.b64encode(text.encode("utf-8")))
    if encoded > USER_DATA_LIMIT:
        raise UserDataTooLarge(
            f"the monitoring node's user data is {encoded} bytes once base64-encoded, more than Nova's "
            f"{USER_DATA_LIMIT}"
        )
    return text


PORTS: Final = (
    metrics.PROMETHEUS_PORT,
    c.ALERTMANAGER_PORT,
    c.BLACKBOX_PORT,
    c.NODE_EXPORTER_PORT,
    CLUSTER_PORT,
)
"""The TCP ports a node serves on the management network (its partner scrapes them; the Alertmanagers
gossip on the last, over UDP too)."""


def pair_user_data(deployment: Deployment, stack_file: str) -> tuple[str, ...]:
    """The user data of each node of the pair the stack deploys, in ``monitoring.nodes`` order; ()
    when the stack deploys none (no ``monitoring.instances``). Raises UserDataTooLarge."""
    monitoring = deployment.datacenter.monitoring
    if monitoring is None or monitoring.instances is None:
        return ()
    files = render(stack_watch(deployment, stack_file), stack_file)
    nodes = [str(node) for node in monitoring.nodes]
    try:
        key, facts = monitoring.instances.deploy_key, monitoring.instances.facts_key
        shipping = (deployment.datacenter.name, monitoring.logs) if monitoring.logs is not None else None
        first, second = nodes  # the model requires a deployed pair to be two nodes
        return (
            user_data(files, Peering(first, second), key, facts, shipping),
            user_data(files, Peering(second, first), key, facts, shipping),
        )
    except UserDataTooLarge as error:
        raise UserDataTooLarge(
            f"{stack_file}: config.webex-cloud:datacenter.monitoring.instances: {error}; remove instances "
            "and run the pair outside the stack, or watch fewer services from it"
        ) from None
