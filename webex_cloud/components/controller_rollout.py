"""The rolling, health-gated deployment of the scheduler filters to the controller pair, over SSH.

The commands are children of the ControllerPair component itself (no component of their own), so
their URNs are the ones deployed stacks already have.
"""

from __future__ import annotations

import hashlib
import shlex

import pulumi
from pulumi_command import remote

from webex_cloud.config.models import Controller, ControllerPlane
from webex_cloud.controller.filter_release import FilterRelease, project_relative
from webex_cloud.controller.front_config import deploy_profile

StagedFile = tuple[str, pulumi.Asset, str, str]
"""One file copied to a controller's staging folder: label (the resource's name suffix), content, remote
path, sha256 (the copy's trigger, and the command's that uses it)."""


def controller_connection(plane: ControllerPlane, controller: Controller) -> remote.ConnectionArgs:
    """The deploy login to one controller, its host key pinned (no key named: see filter_rollout)."""
    return remote.ConnectionArgs(
        host=str(controller.address),
        port=plane.ssh_port,
        user=plane.ssh_user,
        host_key=controller.host_key,
    )


def staged_copies(
    prefix: str, connection: remote.ConnectionArgs, files: list[StagedFile], opts: pulumi.ResourceOptions
) -> list[remote.CopyToRemote]:
    """Each file copied to the controller as ``<prefix>-<label>``, again whenever its digest changes."""
    return [
        remote.CopyToRemote(
            f"{prefix}-{label}",
            connection=connection,
            source=source,
            remote_path=path,
            triggers=[digest],
            opts=opts,
        )
        for label, source, path, digest in files
    ]


def filter_rollout(
    pair: pulumi.Resource,
    name: str,
    plane: ControllerPlane,
    release: FilterRelease,
) -> list[remote.Command]:
    """Per controller, in order: copy the release files, then run the deploy script; controller N
    starts only after controller N-1's rollout succeeded. The rollout commands, in order.

    The connections name no private key: pulumi-command authenticates with the ssh-agent at
    ``SSH_AUTH_SOCK`` when ``agentSocketPath`` is unset (pulumi/pulumi-command v1.2.1,
    provider/pkg/provider/remote/connection.go, ``tryGetDefaultAgentSocket``). The deploy job loads the
    datacenter's key into an agent for `pulumi up` alone (scripts/with-deploy-key.sh), so the key is in
    no stack config and no checkpoint, and the stack's passphrase decrypts nothing that reaches a
    controller (docs/state-backend.md)."""
    deploy = plane.deploy
    staging = f"{deploy.staging_dir}/{release.release_id}"
    wheel_remote = f"{staging}/{release.wheel.filename}"
    fragment_names = sorted(release.fragments)
    argv = [
        *(["sudo", "-n"] if deploy.sudo else []),
        deploy.python,
        f"{staging}/rolling_deploy.py",
        "apply",
        "--profile",
        f"{staging}/profile.json",
        "--wheel",
        wheel_remote,
        "--sha256",
        release.wheel.sha256,
    ]
    argv += [arg for n in fragment_names for arg in ("--fragment", f"{n}={staging}/{n}.conf")]
    command = shlex.join(argv)
    rollouts: list[remote.Command] = []
    for controller in plane.hosts:
        prefix = f"{name}-{controller.name}"
        connection = controller_connection(plane, controller)
        profile = deploy_profile(plane, controller)
        # Nothing reaches controller N (not even its staging files) before controller N-1 is healthy.
        after = pulumi.ResourceOptions(parent=pair, depends_on=rollouts[-1:])
        files: list[StagedFile] = [
            (
                "wheel",
                pulumi.FileAsset(project_relative(release.wheel.path)),
                wheel_remote,
                release.wheel.sha256,
            ),
            (
                "script",
                pulumi.FileAsset(project_relative(release.deploy_script)),
                f"{staging}/rolling_deploy.py",
                release.deploy_script_sha256,
            ),
            ("profile", pulumi.StringAsset(profile), f"{staging}/profile.json", _sha256(profile)),
        ]
        files += [
            (
                f"fragment-{n}",
                pulumi.StringAsset(release.fragments[n]),
                f"{staging}/{n}.conf",
                release.fragment_sha256(n),
            )
            for n in fragment_names
        ]
        copies = staged_copies(prefix, connection, files, after)
        rollouts.append(
            remote.Command(
                f"{prefix}-rollout",
                connection=connection,
                create=command,
                update=command,
                # The hashes, not the paths: an unchanged release never runs again.
                triggers=[digest for _, _, _, digest in files],
                opts=pulumi.ResourceOptions(parent=pair, depends_on=[*copies, *rollouts[-1:]]),
            )
        )
    return rollouts


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
