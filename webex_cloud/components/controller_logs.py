"""The controllers' log shipping (``monitoring.logs``; docs/monitoring.md, "Logs").

Per controller, after its filter rollout and after the previous controller's log install (one controller
at a time, like the rollout): ``rsyslog/controllers.conf`` (webex_cloud/monitoring/logs.py) and the main
configuration rsyslogd checks it with are copied to the release's staging folder, then the deploy
script's ``logs`` step runs as root through the rollout's own ``sudo -n`` rule: ``rsyslogd -N1`` on
Debian's configuration plus the drop-in, and only if it passes the drop-in goes to
:data:`~webex_cloud.monitoring.logs.DROP_IN` and rsyslog is restarted and must come back healthy, or the
previous file is put back. A refused drop-in stops the deploy at that controller, the next one untouched.

Children of the ControllerPair like the rollout, so their URNs stay ``<pair>-<controller>-...``.
"""

from __future__ import annotations

import hashlib
import shlex
from typing import Final

import pulumi
from pulumi_command import remote

from webex_cloud.components.controller_rollout import StagedFile, controller_connection, staged_copies
from webex_cloud.config.models import ControllerPlane, LogShipping
from webex_cloud.controller.filter_release import FilterRelease
from webex_cloud.monitoring import logs

RESTART: Final = ("systemctl", "restart", "rsyslog")
HEALTH: Final = ("systemctl", "is-active", "--quiet", "rsyslog")


def logs_command(plane: ControllerPlane, staging: str) -> str:
    """The deploy script's ``logs`` step for one controller, as the SSH user runs it (through sudo)."""
    deploy = plane.deploy
    argv = [
        *(["sudo", "-n"] if deploy.sudo else []),
        deploy.python,
        f"{staging}/rolling_deploy.py",
        "logs",
        "--from",
        f"{staging}/rsyslog-controllers.conf",
        "--check-with",
        f"{staging}/rsyslog-check.conf",
        "--to",
        logs.DROP_IN,
        "--restart",
        shlex.join(RESTART),
        "--health",
        shlex.join(HEALTH),
    ]
    return shlex.join(argv)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def controller_logs(
    pair: pulumi.Resource,
    name: str,
    datacenter: str,
    plane: ControllerPlane,
    shipping: LogShipping | None,
    release: FilterRelease,
    rollouts: list[remote.Command],
) -> list[remote.Command]:
    """The log install command on each controller, in rollout order (none without ``monitoring.logs``)."""
    if shipping is None:
        return []
    staging = f"{plane.deploy.staging_dir}/{release.release_id}"
    conf = logs.rsyslog_files(datacenter, shipping)[f"{logs.FOLDER}/controllers.conf"]
    check = logs.check_main(f"{staging}/rsyslog-controllers.conf")
    command = logs_command(plane, staging)
    installs: list[remote.Command] = []
    for controller, rollout in zip(plane.hosts, rollouts, strict=True):
        prefix = f"{name}-{controller.name}"
        connection = controller_connection(plane, controller)
        # Nothing reaches controller N before its rollout and controller N-1's log install succeeded.
        after = pulumi.ResourceOptions(parent=pair, depends_on=[rollout, *installs[-1:]])
        files: list[StagedFile] = [
            (
                "rsyslog-conf",
                pulumi.StringAsset(conf),
                f"{staging}/rsyslog-controllers.conf",
                _sha256(conf),
            ),
            ("rsyslog-check", pulumi.StringAsset(check), f"{staging}/rsyslog-check.conf", _sha256(check)),
        ]
        copies = staged_copies(prefix, connection, files, after)
        installs.append(
            remote.Command(
                f"{prefix}-logs",
                connection=connection,
                create=command,
                update=command,
                triggers=[*(digest for _, _, _, digest in files), release.deploy_script_sha256],
                opts=pulumi.ResourceOptions(parent=pair, depends_on=[*copies, rollout, *installs[-1:]]),
            )
        )
    return installs
