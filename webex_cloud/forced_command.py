"""An ``authorized_keys`` line that lets one key run one command and nothing else: the one owner of its
format, for the drift reader's login on the controllers (controller/reader.py) and the facts login on the
monitoring nodes (monitoring/facts_login.py).

The format is OpenSSH's (sshd(8) AUTHORIZED_KEYS FILE FORMAT, OpenSSH 9.2 as Debian 12 ships it,
openssh-server 1:9.2p1): one key per line, "options, keytype, base64-encoded key, comment", the options
comma-separated with "no spaces ... except within double quotes". ``restrict`` turns off every
forwarding, the pty, X11, the agent and ``~/.ssh/rc``; ``command="..."`` runs that command whatever the
client asks (the client's request only shows in ``SSH_ORIGINAL_COMMAND``). "A quote may be included in
the command by quoting it with a backslash": sshd reads the quoted value with ``opt_dequote``
(openssh-portable 9.2 ``misc.c``), which turns ``\\"`` into ``"`` and keeps every other backslash as it
is. A command ending in a backslash could not be written (its closing quote would read as escaped); the
command is ``shlex.join`` of its words, which puts every backslash inside single quotes, so it never does.

What is refused, as :class:`ValueError` naming the fault: a key that is not exactly one public key line
(a line break would start a second entry with options of its own; text before the key type would be
options the key's owner chose), and a command holding a line break or a NUL.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from webex_cloud.pinned_ssh import key_line_problem

OPTIONS = "restrict"
"""The options before ``command``: ``restrict`` alone, so a future OpenSSH option is off too."""


def key_problem(public_key: str) -> str:
    """What is wrong with ``public_key`` as the key of a forced-command line (``""``: nothing): it must be
    one ``<type> <base64> [comment]`` line, the key sound (pinned_ssh.key_line_problem)."""
    if any(c in public_key for c in "\n\r\0"):
        return "spans several lines"
    return key_line_problem(public_key)


def quoted_command(argv: Sequence[str]) -> str:
    """``argv`` as the value of ``command="..."``: a shell line (sshd runs it with the login's shell),
    its double quotes escaped as sshd's ``opt_dequote`` reads them."""
    command = shlex.join(argv)
    if any(c in command for c in "\n\r\0"):
        raise ValueError(
            f"the forced command {command!r} holds a line break or a NUL: authorized_keys is one key a line"
        )
    return '"' + command.replace('"', '\\"') + '"'


def forced_command_line(argv: Sequence[str], public_key: str) -> str:
    """The ``authorized_keys`` line that lets ``public_key`` run ``argv`` and nothing else."""
    problem = key_problem(public_key)
    if problem:
        raise ValueError(
            f"the key of a forced-command login must be one OpenSSH public key line, and this one {problem}"
        )
    return f"{OPTIONS},command={quoted_command(argv)} {public_key}"
