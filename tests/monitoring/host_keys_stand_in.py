"""The monitoring nodes' host keys, for the tests' stand-in `ssh` and stand-in Nova.

Each node (by address) has a folder under ``$STAND_IN_HOST_KEYS``: ``presented`` holds the public keys
its sshd offers, one OpenSSH line each; its console shows what a test puts there (by default the same
keys, printed as cloud-init 22.4.2's tools/write-ssh-key-fingerprints prints them).

:func:`check_host_key` is what OpenSSH's client does with them, the part the reload relies on: with
``StrictHostKeyChecking=yes`` and ``UserKnownHostsFile=F`` it picks the server's key of a type F knows
for the host (OpenSSH puts the known types first in its host key algorithms), looks the host up in F
with the real ``ssh-keygen -F`` and refuses, exit 255 and OpenSSH's words, when that key is not there.
Any other host key policy (trust on first use included) is refused here: the reload must pin.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from webex_cloud.monitoring_ops.host_keys import BEGIN, END

KEYS_ENV = "STAND_IN_HOST_KEYS"


def generate(folder: Path, kinds: Sequence[str] = ("ed25519",)) -> list[str]:
    """New host keys of ``kinds`` (ssh-keygen's -t), their public lines as the node's .pub files hold them."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for kind in kinds:
        key = folder / f"ssh_host_{kind}_key"
        key.unlink(missing_ok=True)
        key.with_suffix(".pub").unlink(missing_ok=True)
        subprocess.run(
            ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "root@monitoring", "-f", str(key)], check=True
        )
        lines.append(key.with_name(key.name + ".pub").read_text().strip())
    return lines


def cloud_init_console(keys: Sequence[str]) -> str:
    """A console log as a Debian node's first boot leaves it: kernel lines, cloud-init's fingerprints
    (through logger -s), then the key block; serial line endings."""
    lines = [
        "[    0.000000] Linux version 6.1.0-28-cloud-amd64 (debian-kernel@lists.debian.org)",
        "ci-info: ++++++++++++++++++++++Net device info+++++++++++++++++++++++",
        "<14>Dec  7 06:02:11 cloud-init: #############################################################",
        "<14>Dec  7 06:02:11 cloud-init: -----BEGIN SSH HOST KEY FINGERPRINTS-----",
        "<14>Dec  7 06:02:11 cloud-init: 256 SHA256:Yx8fDe0PWcHk3EXAMPLEEXAMPLE root@monitoring (ED25519)",
        "<14>Dec  7 06:02:11 cloud-init: -----END SSH HOST KEY FINGERPRINTS-----",
        "<14>Dec  7 06:02:11 cloud-init: #############################################################",
        BEGIN,
        *keys,
        END,
        "Cloud-init v. 22.4.2 finished at Mon, 07 Dec 2026 06:02:11 +0000. Up 93.12 seconds",
        "",
        "Debian GNU/Linux 12 dc1-monitoring-0 ttyS0",
        "",
        "dc1-monitoring-0 login: ",
    ]
    return "\r\n".join(lines)


def server(server_id: str, address: str) -> dict[str, Any]:
    """A server record of ``GET /servers/detail`` holding ``address`` on the management network."""
    addresses = {"mgmt": [{"addr": address, "version": 4, "OS-EXT-IPS:type": "fixed"}]}
    return {"id": server_id, "name": server_id, "status": "ACTIVE", "hostId": "h", "addresses": addresses}


def console_answer(console: str) -> tuple[int, Any]:
    return 200, {"output": console}


def action_path(server_id: str) -> str:
    return f"/compute/v2.1/servers/{server_id}/action"


def nova_answers(folder: Path, addresses: Sequence[str]) -> dict[str, tuple[int, Any]]:
    """For a stand-in Nova (tests/cloud/fake_cloud.py): one server per node holding its address, whose
    console shows the node's new host key as cloud-init prints it; the keys (``folder/<address>``) are
    the ones its sshd presents. A test changes a console by replacing ``answers[action_path(...)]``."""
    answers: dict[str, tuple[int, Any]] = {}
    servers = []
    for address in addresses:
        presented = generate(folder / address / "keys")
        (folder / address / "presented").write_text("\n".join(presented) + "\n")
        servers.append(server(server_id(address), address))
        answers[action_path(server_id(address))] = console_answer(cloud_init_console(presented))
    answers["/compute/v2.1/servers/detail"] = (200, {"servers": servers})
    return answers


def server_id(address: str) -> str:
    return f"server-{address}"


def _options(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    options = {}
    while argv and argv[0] in ("-o", "-p"):
        name, _, value = argv[1].partition("=") if argv[0] == "-o" else ("Port", "", argv[1])
        options[name] = value
        argv = argv[2:]
    return options, argv


def _refuse(message: str) -> None:
    print(message, file=sys.stderr)
    sys.exit(255)


def check_host_key(argv: list[str]) -> list[str]:
    """``ssh``'s argv after the host key check (the login and the command); exits 255 when ssh would."""
    options, rest = _options(argv)
    host = rest[0].split("@")[-1]
    known_hosts = options.get("UserKnownHostsFile", "")
    if options.get("StrictHostKeyChecking") != "yes" or not known_hosts:
        _refuse(f"stand-in ssh: {host}: no pinned host key ({options}); only pinned logins are emulated")
    presented = (Path(os.environ[KEYS_ENV]) / host / "presented").read_text().split("\n")
    offered = [line.split()[:2] for line in presented if line.strip()]
    port = options.get("Port", "22")
    entry = host if port == "22" else f"[{host}]:{port}"  # as ssh looks a host up in known_hosts
    found = subprocess.run(
        ["ssh-keygen", "-F", entry, "-f", known_hosts], capture_output=True, text=True, check=False
    ).stdout
    known = [line.split()[1:3] for line in found.splitlines() if line and not line.startswith("#")]
    known_types = [kind for kind, _ in known]
    chosen = next((key for key in offered if key[0] in known_types), offered[0])
    if chosen in known:
        return rest
    if chosen[0] in known_types:
        _refuse(
            "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
            "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n"
            "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
            f"Host key for {host} has changed and you have requested strict checking.\n"
            "Host key verification failed."
        )
    _refuse(
        f"No {chosen[0]} host key is known for {host} and you have requested strict checking.\n"
        "Host key verification failed."
    )
    return rest
