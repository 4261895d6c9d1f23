"""Pin each monitoring node's SSH host keys to the ones its first boot printed on its console.

The deploy logs in to the nodes (monitoring_ops/reload.py, :class:`~.reload.SshNode`) with a key that
can change every rule and route the datacenter is watched by, so it must know it talks to the node and
not to whatever answers on the node's address. No key is trusted on first contact: the keys come from
the one channel the node's own boot writes and the network cannot: its serial console, read through
Nova as the stack's read-only identity.

cloud-init (Debian bookworm's 22.4.2; unchanged in 25.3) prints them at the end of its final stage:
module ``keys-to-console`` (listed last but a few in ``cloud_final_modules``, config/cloud.cfg.tmpl)
runs ``/usr/lib/cloud-init/write-ssh-key-fingerprints`` (tools/write-ssh-key-fingerprints), whose output
goes to the console (cloudinit/config/cc_keys_to_console.py, ``util.multi_log(..., console=True)``):
every ``/etc/ssh/ssh_host_*key.pub`` verbatim (``<type> <base64> <comment>``) between
:data:`BEGIN` and :data:`END`, every type but ``ssh-dss`` (``ssh_key_console_blacklist``'s default).
It runs once per instance (``PER_INSTANCE``), after ``cc_ssh`` generated the instance's own keys
(``ssh_deletekeys`` true: an image's keys are never reused). The node's user data
(monitoring/node.py) sets none of the keys that would silence it (:data:`SILENCING_KEYS`).

The rule, per node: the server of the stack's project that holds the node's address; the last complete
key block of its console; every line of it a well-formed public key (its base64 decodes to exactly the
SSH wire form of a key of the type it names: RFC 4253 section 6.6, RFC 5656 section 3.1, RFC 8709
section 4); those keys, and only those, in a known_hosts file of this
run that ssh is held to (``StrictHostKeyChecking=yes``). A replaced node has a new console with its new
keys: nothing to forget. Anything else refuses the node before anything is sent to it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from webex_cloud import atomic
from webex_cloud.cloud.errors import CloudError
from webex_cloud.cloud.session import Session
from webex_cloud.cloud.views import Server, parse_server, read_console_output, read_servers
from webex_cloud.pinned_ssh import key_line_problem

BEGIN: Final = "-----BEGIN SSH HOST KEY KEYS-----"
END: Final = "-----END SSH HOST KEY KEYS-----"
"""cloud-init 22.4.2 tools/write-ssh-key-fingerprints: the lines around the host public keys."""
SILENCING_KEYS: Final = ("ssh", "ssh_key_console_blacklist", "cloud_final_modules")
"""cloud-config keys that would stop or thin the key block (``ssh.emit_keys_to_console: false``, a
blacklist of key types, a final stage without ``keys-to-console``; cc_keys_to_console.py)."""


class NotPinned(Exception):
    """A node whose host keys cannot be taken from its console; the message says what to check."""


@dataclass(frozen=True)
class Pin:
    address: str
    server: Server
    keys: tuple[tuple[str, str], ...]
    """(type, base64) of each host key, in the console's order."""


def parse_key_block(console: str) -> tuple[tuple[str, str], ...]:
    """The keys of the last complete key block of ``console``; raise NotPinned (its reason) without one."""
    lines = [line.strip() for line in console.replace("\r", "").split("\n")]
    begins = [i for i, line in enumerate(lines) if line == BEGIN]
    if not begins:
        rotated = " (only its end is left: the start was rotated out)" if END in lines else ""
        raise NotPinned(f"its console has no {BEGIN} line{rotated}")
    start = begins[-1]
    if END not in lines[start:]:
        raise NotPinned(f"its console's last key block has no {END} line (cut short)")
    block = lines[start + 1 : lines.index(END, start)]
    if not block:
        raise NotPinned("its console's last key block is empty")
    keys = []
    for number, line in enumerate(block, 1):
        problem = key_line_problem(line)
        if problem:
            raise NotPinned(f"line {number} of its console's last key block {problem}: {line[:80]!r}")
        kind, blob = line.split()[:2]
        keys.append((kind, blob))
    return tuple(keys)


def server_of(address: str, servers: Sequence[Server]) -> Server:
    """The one server of the project holding ``address``; raise NotPinned otherwise."""
    holding = [server for server in servers if address in server.addresses]
    if len(holding) != 1:
        found = ", ".join(f"{s.name} ({s.id})" for s in holding) or "none"
        raise NotPinned(
            f"the servers of the stack's project holding {address}: {found}; the node must be exactly one "
            "of them (the stack file's monitoring.nodes, docs/monitoring.md)"
        )
    return holding[0]


def pin_nodes(session: Session, addresses: Sequence[str]) -> list[Pin]:
    """Each node's server and the host keys on its console, all of them read before any node is touched;
    raise NotPinned naming the first node that cannot be pinned, or CloudError."""
    servers = [parse_server(raw) for raw in read_servers(session)]
    pins = []
    for address in addresses:
        try:
            server = server_of(address, servers)
            keys = parse_key_block(read_console_output(session, server.id))
        except NotPinned as error:
            raise NotPinned(f"monitoring node {address}: {error}. {CHECKS}") from None
        except CloudError as error:
            raise CloudError(f"monitoring node {address}: its console could not be read: {error}") from None
        pins.append(Pin(address, server, keys))
    return pins


CHECKS: Final = (
    "Its host keys are taken from what cloud-init printed on its console at its first boot, and nothing is "
    "sent to a node whose keys are not known. Check, with `openstack console log show <server>`: that "
    "cloud-init has finished (it prints the keys at the end of its final stage, after the packages are "
    "installed: wait and run again); that the console still holds them (Nova keeps its last 100 KiB: once "
    "they are rotated out, rebuild the node, or read its keys from its console on the hypervisor); that "
    "the node was booted by cloud-init with the stack's user data (docs/monitoring.md, Host keys)"
)


def known_hosts(pins: Sequence[Pin]) -> str:
    """The known_hosts text of ``pins``: one line per key, the host named by the address ssh is given."""
    return "".join(f"{pin.address} {kind} {blob}\n" for pin in pins for kind, blob in pin.keys)


@contextmanager
def known_hosts_file(pins: Sequence[Pin]) -> Iterator[Path]:
    """A known_hosts file of this run only, removed afterwards: no earlier run's key is trusted, and no
    later one sees this run's. Private (0600 in a 0700 folder) and written whole before ssh reads it."""
    with tempfile.TemporaryDirectory(prefix="webex-known-hosts-") as folder:
        path = Path(folder) / "known_hosts"
        atomic.write_text(path, known_hosts(pins), mode=0o600)
        yield path
