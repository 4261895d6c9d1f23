"""The one SSH login this project makes to a machine it manages: held to host keys pinned in a file.

Only the pinned keys: a key that is not in ``known_hosts`` refuses the login, and that file is neither
read from nor written to the runner's own known_hosts (the global file is /dev/null, keys are never
updated). ``BatchMode`` so a missing key or agent fails at once instead of prompting. The monitoring
pair's reload (monitoring_ops/reload.py) and drift's controller read (drift/controllers.py) log in
through it.
"""

from __future__ import annotations

from pathlib import Path


def pinned_ssh_argv(login: str, known_hosts: Path, command: str, port: int = 22) -> list[str]:
    """``ssh`` logging in as ``login`` (``user@address``) to run ``command``, only against the keys of
    ``known_hosts``."""
    return [
        "ssh",
        "-o", "BatchMode=yes",
        "-o", "ConnectTimeout=10",
        "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={known_hosts}",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "UpdateHostKeys=no",
        "-p", str(port),
        login,
        command,
    ]  # fmt: skip
