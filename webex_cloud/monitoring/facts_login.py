"""The one thing the facts job may do on a monitoring node: replace the facts file node_exporter serves.

The live facts (monitoring_ops/facts.py) are computed on the datacenter's runner by the facts job
(.github/workflows/monitoring-facts.yml) with the stack's read-only cloud identity, and pushed to each
node over SSH held to the node's pinned host keys (monitoring_ops/host_keys.py), as the login
:data:`FACTS_USER`. That login is not the deploy's: its key (``monitoring.instances.facts_key``, the
private half in the facts job's environment) is authorised with ``restrict`` and a forced command
(webex_cloud/forced_command.py: ``command=`` runs that command whatever the client asks; ``restrict``
disables forwarding, the pty, X11 and ``~/.ssh/rc``), so the key can do exactly one
thing: hand the receiver a text exposition on stdin. The receiver accepts only ``webex_`` samples and
their HELP/TYPE lines, at most :data:`LIMIT` bytes, with the facts' timestamp, and renames them over
:data:`FACTS_FILE` atomically; anything else is refused and the file left as it was. The worst a stolen
facts key can do is write false facts, never a rule, a route, a secret or a login.
"""

from __future__ import annotations

from typing import Final

from webex_cloud.forced_command import forced_command_line
from webex_cloud.monitoring import contract as c

FACTS_USER: Final = "webex-facts"
TEXTFILE_DIR: Final = "/var/lib/prometheus/node-exporter"
"""Debian bookworm's ``prometheus-node-exporter`` textfile directory (its ``/etc/default`` ARGS)."""
FACTS_FILE: Final = f"{TEXTFILE_DIR}/placement.prom"
RECEIVER: Final = "/usr/local/bin/webex-facts-receive"
LIMIT: Final = 4 * 1024 * 1024
"""Bytes: a fleet's datacenter writes a few kilobytes; more is not facts."""


def authorized_key(public_key: str) -> str:
    """The ``authorized_keys`` line of :data:`FACTS_USER`: the key, restricted to the receiver."""
    return forced_command_line([RECEIVER, TEXTFILE_DIR], public_key)


def receiver_script() -> str:
    """The receiver, run by sshd as :data:`FACTS_USER` (Debian's python3, which cloud-init runs on)."""
    return f'''#!/usr/bin/python3
"""Replace the facts file with the exposition on stdin, or refuse and change nothing."""
import os, re, sys, tempfile

folder = sys.argv[1]
target = os.path.join(folder, "{FACTS_FILE.rsplit("/", 1)[1]}")
sample = re.compile(r"webex_[a-z_:]+(\\{{.*\\}})? [-+]?([0-9.]+([eE][-+]?[0-9]+)?|Inf|NaN)")
comment = re.compile(r"# (HELP|TYPE) webex_[a-z_:]+ .*")


def refuse(why):
    print(f"webex-facts-receive: refused, {{target}} unchanged: {{why}}", file=sys.stderr)
    sys.exit(1)


data = sys.stdin.buffer.read({LIMIT} + 1)
if len(data) > {LIMIT}:
    refuse("more than {LIMIT} bytes")
try:
    text = data.decode("utf-8")
except UnicodeDecodeError:
    refuse("not UTF-8")
lines = text.split("\\n")
if lines[-1] != "":
    refuse("the last line has no line feed (cut short?)")
count = 0
for number, line in enumerate(lines[:-1], 1):
    if sample.fullmatch(line):
        count += 1
    elif not comment.fullmatch(line):
        refuse(f"line {{number}} is not a webex_ fact")
if not any(line.startswith("{c.PLACEMENT_CHECKED_AT}{{") for line in lines):
    refuse("no {c.PLACEMENT_CHECKED_AT}")
handle, staged = tempfile.mkstemp(dir=folder, prefix=".placement.")
try:
    with os.fdopen(handle, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.chmod(staged, 0o644)
    os.replace(staged, target)
except BaseException:
    os.unlink(staged)
    raise
print(f"webex-facts-receive: {{count}} samples -> {{target}}")
'''
