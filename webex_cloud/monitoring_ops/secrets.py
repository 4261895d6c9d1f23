"""Place a deployed monitoring pair's secrets on its nodes, from the stack's Pulumi secrets.

1. **declared** (offline, before any decryption or login): the stack file holds exactly one ``secure:``
   value per file the receivers name, and the reader's environment (monitoring/secrets.py); a missing,
   clear or extra one is an input error naming file, field and fix;
2. **decrypted** by the Pulumi CLI the deploy already runs, with the deploy's passphrase in its
   environment: ``pulumi config --show-secrets --json`` (pulumi/pulumi ``pkg/cmd/pulumi/config/config.go``,
   ``configValueJSON``: an object's decrypted leaves in ``objectValue``); the values stay in this process;
3. **sent** to each node, in order, as a tar on the stdin of one SSH login held to the node's pinned host
   keys, where :data:`~webex_cloud.monitoring.secrets.HELPER` installs them (0600, the ``prometheus``
   user's). Nothing of a value reaches an argument, a log line or a file of the runner.
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from webex_cloud.monitoring import secrets as spec
from webex_cloud.monitoring_ops.reload import ReloadFailed, SshNode
from webex_cloud.paths import PROJECT

PULUMI_TIMEOUT_S = 120.0


def decrypted(project: Path, stack: str, label: str) -> dict[str, str]:
    """The stack's monitoring secrets in clear, by file name (raises SecretsUnusable)."""
    # The stack as the deploy job names it to `pulumi up` (the DIY backend's organization/project/stack).
    argv = ["pulumi", "config", "--show-secrets", "--json", "--stack", f"organization/{PROJECT}/{stack}"]
    try:
        done = subprocess.run(
            argv, cwd=project, capture_output=True, timeout=PULUMI_TIMEOUT_S, check=False, text=True
        )
    except FileNotFoundError:
        raise spec.SecretsUnusable("the Pulumi CLI is not on PATH: it decrypts the stack's secrets") from None
    except subprocess.TimeoutExpired:
        raise spec.SecretsUnusable(f"`pulumi config` did not answer in {PULUMI_TIMEOUT_S:g} s") from None
    if done.returncode != 0:
        said = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        raise spec.SecretsUnusable(
            f"{label}: `pulumi config --show-secrets` failed ({said[0]}): the deploy's passphrase "
            "(PULUMI_CONFIG_PASSPHRASE) and backend (PULUMI_BACKEND_URL) must be in the environment"
        )
    try:
        config = json.loads(done.stdout)
    except ValueError:
        raise spec.SecretsUnusable("`pulumi config --json` printed no JSON") from None
    short = spec.CONFIG_KEY.partition(":")[2]
    entry = config.get(spec.CONFIG_KEY) or config.get(short) if isinstance(config, dict) else None
    value = entry.get("objectValue") if isinstance(entry, dict) else None
    if value is None and isinstance(entry, dict) and isinstance(entry.get("value"), str):
        value = json.loads(entry["value"])
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise spec.SecretsUnusable(
            f"{label}: config.{spec.CONFIG_KEY}: `pulumi config` shows no mapping of file name to text"
        )
    return {str(name): text for name, text in value.items()}


def node_files(
    values: Mapping[str, str], required: Sequence[spec.SecretFile], region: str, stack: str, label: str
) -> dict[str, bytes]:
    """What each node gets: every required file, the reader's environment checked and completed."""
    files = {}
    for secret in required:
        text = values.get(secret.name)
        if text is None or not text.strip():
            raise spec.SecretsUnusable(
                f"{label}: {spec.config_field(secret.name)}: empty or not decrypted ({secret.field}); run "
                f"`{spec.set_command(stack, secret.name, '<value>')}`"
            )
        if secret.name == spec.READER_ENV:
            text = spec.reader_env(text, region, label)
        files[secret.name] = text.encode("utf-8")
    return files


def _tar(files: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(f"./{name}")
            info.size, info.mode = len(data), 0o600
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def place(node: SshNode, files: Mapping[str, bytes]) -> list[str]:
    """Send ``files`` to one node; raise ReloadFailed naming the node (never a value)."""
    try:
        said = node.run_as_root(spec.HELPER, _tar(files)).decode("utf-8", "replace").strip()
    except ReloadFailed as error:
        if "password is required" in str(error) or "not allowed" in str(error):
            raise ReloadFailed(
                f"{node.name}: may not run {spec.HELPER} through sudo: a node booted before the pair "
                "placed its secrets has no such rule; rebuild it, or add the helper and the sudo rule "
                f"by hand (docs/monitoring.md, Secrets). {error}"
            ) from None
        raise
    return [f"{node.name}: {line}" for line in said.splitlines()]
