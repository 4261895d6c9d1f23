"""The drift reader login on each controller (``controllers.drift_reader``; docs/drift.md).

Per controller, after its filter rollout (the deploy script it runs is that release's, staged there):
the read script and the one authorized_keys line are copied to the release's staging folder, then the
deploy script's ``reader`` step installs them as root, through the same ``sudo -n`` rule as the rollout
(docs/controllers.md): the account, the script at ``drift_reader.script``, the key with its forced
command (webex_cloud/controller/reader.py). Its files live in the release's folder, so each new release
installs it again (idempotent: same account, same files), and so does a new key, script or path (the
triggers: the script's, the line's and the deploy script's digests). Deleting the resource
(``drift_reader`` removed from the stack) empties the account's authorized_keys and deletes the account
(or locks and expires it when ``userdel`` refuses: rolling_deploy.py ``remove_reader``).

Children of the ControllerPair like the rollout, so their URNs stay ``<pair>-<controller>-...``.
"""

from __future__ import annotations

import hashlib
import shlex

import pulumi
from pulumi_command import remote

from webex_cloud.components.controller_rollout import StagedFile, controller_connection, staged_copies
from webex_cloud.config.models import ControllerPlane, DriftReader
from webex_cloud.controller.filter_release import FilterRelease, project_relative
from webex_cloud.controller.reader import (
    READ_SCRIPT,
    authorized_keys_line,
    read_script_sha256,
    reader_home,
)


def reader_command(plane: ControllerPlane, reader: DriftReader, staging: str, *, remove: bool) -> str:
    """The deploy script's ``reader`` step for one controller, as the SSH user runs it (through sudo)."""
    deploy = plane.deploy
    argv = [
        *(["sudo", "-n"] if deploy.sudo else []),
        deploy.python,
        f"{staging}/rolling_deploy.py",
        "reader",
        "--user",
        reader.user,
        "--home",
        reader_home(reader),
    ]
    if remove:
        argv.append("--remove")
    else:
        argv += [
            "--script-from",
            f"{staging}/read_controller.py",
            "--script",
            reader.script,
            "--keys-from",
            f"{staging}/drift_reader.keys",
        ]
    return shlex.join(argv)


def drift_reader(
    pair: pulumi.Resource,
    name: str,
    plane: ControllerPlane,
    release: FilterRelease,
    rollouts: list[remote.Command],
) -> list[remote.Command]:
    """The reader's install command on each controller (none without ``drift_reader``)."""
    reader = plane.drift_reader
    if reader is None:
        return []
    staging = f"{plane.deploy.staging_dir}/{release.release_id}"
    line = authorized_keys_line(plane, reader)
    installs: list[remote.Command] = []
    for controller, rollout in zip(plane.hosts, rollouts, strict=True):
        prefix = f"{name}-{controller.name}"
        connection = controller_connection(plane, controller)
        after = pulumi.ResourceOptions(parent=pair, depends_on=[rollout])
        files: list[StagedFile] = [
            (
                "read-script",
                pulumi.FileAsset(project_relative(READ_SCRIPT)),
                f"{staging}/read_controller.py",
                read_script_sha256(),
            ),
            (
                "reader-key",
                pulumi.StringAsset(line + "\n"),
                f"{staging}/drift_reader.keys",
                hashlib.sha256(line.encode()).hexdigest(),
            ),
        ]
        copies = staged_copies(prefix, connection, files, after)
        install = reader_command(plane, reader, staging, remove=False)
        installs.append(
            remote.Command(
                f"{prefix}-drift-reader",
                connection=connection,
                create=install,
                update=install,
                delete=reader_command(plane, reader, staging, remove=True),
                triggers=[*(digest for _, _, _, digest in files), release.deploy_script_sha256],
                # Its triggers replace it (pulumi-command 1.2.1 marks `triggers` replaceOnChanges:
                # provider/pkg/provider/common/inputs.go), and by default Pulumi creates the new one
                # before deleting the old: the old `delete` (--remove) would then undo the new install,
                # every release. Deleted first, the account is removed and installed again instead.
                opts=pulumi.ResourceOptions(
                    parent=pair, depends_on=[*copies, rollout], delete_before_replace=True
                ),
            )
        )
    return installs
