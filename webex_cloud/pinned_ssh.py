"""The one SSH login this project makes to a machine it manages: held to host keys pinned in a file.

Only the pinned keys: a key that is not in ``known_hosts`` refuses the login, and that file is neither
read from nor written to the runner's own known_hosts (the global file is /dev/null, keys are never
updated). ``BatchMode`` so a missing key or agent fails at once instead of prompting. The monitoring
pair's reload (monitoring_ops/reload.py) and drift's controller read (drift/controllers.py) log in
through it. :func:`key_line_problem` is the one check of a public key line (the monitoring nodes' host
keys from their consoles, the drift reader's key in the stack file).
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Final


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


WIRE_FIELDS: Final = {  # the strings of its SSH wire form
    "ssh-ed25519": 2,  # name, 32-byte key (RFC 8709 section 4)
    "ecdsa-sha2-nistp256": 3,  # name, curve, point (RFC 5656 section 3.1)
    "ecdsa-sha2-nistp384": 3,
    "ecdsa-sha2-nistp521": 3,
    "ssh-rsa": 3,  # name, e, n (RFC 4253 section 6.6)
}
HOST_KEY_TYPES: Final = frozenset(WIRE_FIELDS)
"""The host key types cloud-init generates (``ssh_genkeytypes``: rsa, ecdsa, ed25519) and OpenSSH's
client accepts; a DSA key (never printed by default, refused by OpenSSH 9.x) does not pin a node."""


def key_line_problem(line: str) -> str:
    """What is wrong with ``line`` as one OpenSSH public key (``""``: nothing): its base64 must decode to
    exactly the SSH wire form of a key of the type it names (RFC 4253 section 6.6, RFC 5656 section 3.1,
    RFC 8709 section 4)."""
    fields = line.split()
    if len(fields) < 2:
        return "is not '<type> <base64> [comment]'"
    kind, blob = fields[:2]
    if kind not in HOST_KEY_TYPES:
        return f"has the key type {kind!r}, not one of {', '.join(sorted(HOST_KEY_TYPES))}"
    try:
        data = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        return "is not valid base64"
    fields_of, whole = _wire_strings(data)
    if not fields_of or fields_of[0] != kind.encode("ascii"):
        return f"holds a key that is not of its type {kind}"
    if not whole or len(fields_of) != WIRE_FIELDS[kind] or not _sound(kind, fields_of):
        return f"holds a truncated or malformed {kind} key"
    return ""


def _wire_strings(data: bytes) -> tuple[list[bytes], bool]:
    """The length-prefixed strings ``data`` begins with, and whether they fill it exactly."""
    strings: list[bytes] = []
    at = 0
    while at < len(data):
        size = int.from_bytes(data[at : at + 4], "big")
        if at + 4 + size > len(data):
            return strings, False
        strings.append(data[at + 4 : at + 4 + size])
        at += 4 + size
    return strings, True


def _sound(kind: str, fields: list[bytes]) -> bool:
    if kind == "ssh-ed25519":
        return len(fields[1]) == 32
    if kind.startswith("ecdsa-sha2-"):
        return fields[1] == kind.removeprefix("ecdsa-sha2-").encode() and fields[2][:1] == b"\x04"
    return len(fields[2]) >= 256  # an RSA modulus of at least 2048 bits (cloud-init makes 3072)
