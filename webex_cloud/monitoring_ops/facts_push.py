"""Push the facts to each monitoring node: the facts login (monitoring/facts_login.py), over SSH held to
the node's host keys pinned from its console (host_keys.py), the exposition on stdin.

Every node is tried, in order, whatever the one before did: each node serves its own copy to both
Prometheus servers (the pair scrapes both node_exporters), so one node reached keeps the facts fresh, and
the nodes not reached are named in the error.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from webex_cloud.monitoring.facts_login import FACTS_USER, RECEIVER
from webex_cloud.pinned_ssh import pinned_ssh_argv

PUSH_TIMEOUT_S: Final = 60.0


class PushFailed(Exception):
    """A node (or more) did not take the facts; the message names each and why."""


def _push(address: str, known_hosts: Path, facts: bytes) -> str:
    # The command is the forced one's own: sshd runs the receiver whatever is asked.
    argv = pinned_ssh_argv(f"{FACTS_USER}@{address}", known_hosts, RECEIVER)
    try:
        done = subprocess.run(argv, input=facts, capture_output=True, timeout=PUSH_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return f"{address}: no answer over ssh in {PUSH_TIMEOUT_S:g} s"
    except OSError as error:
        return f"{address}: cannot run ssh ({error})"
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()
        why = said[-1] if said else f"exit {done.returncode}"
        if any("Host key verification failed" in line for line in said):
            why = f"the host key it presents is not one its console shows ({why})"
        return f"{address} ({FACTS_USER}): {why}"
    return ""


def push_facts(addresses: Sequence[str], known_hosts: Path, facts: bytes) -> list[str]:
    """Hand ``facts`` to every node; the lines to print. Raises PushFailed naming each node not reached
    (after trying them all)."""
    failed = []
    done = []
    for address in addresses:
        problem = _push(address, known_hosts, facts)
        if problem:
            failed.append(problem)
        else:
            done.append(f"facts -> {address} ({FACTS_USER}, pinned host keys)")
    if failed:
        raise PushFailed("; ".join(failed) + (f" (the facts reached {len(done)} node(s))" if done else ""))
    return done
