"""The drift reader login: what its one key may run on a controller, written once for the stack that
installs it (components/controller_reader.py) and for drift that reads through it (drift/controllers.py).

The key is installed as ``restrict,command="<the read>" <key>`` (sshd(8), AUTHORIZED_KEYS FILE FORMAT,
OpenSSH 9.2 as Debian 12 ships it): ``restrict`` turns off every forwarding, the pty, X11, the agent and
``~/.ssh/rc``; ``command`` replaces whatever the client asks with the read (the client's request only
shows in ``SSH_ORIGINAL_COMMAND``, which the read ignores). Its arguments are the stack's, in the line.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Final

from webex_cloud.config.models import ControllerPlane, DriftReader
from webex_cloud.forced_command import forced_command_line

READ_SCRIPT: Final = Path(__file__).parent / "remote" / "read_controller.py"
"""The read script, as installed on the controllers and as drift expects to find it there."""


def read_script_sha256() -> str:
    return hashlib.sha256(READ_SCRIPT.read_bytes()).hexdigest()


def reader_home(reader: DriftReader) -> str:
    """The account's home (root's, so the account cannot rewrite its own authorized_keys)."""
    return f"/var/lib/{reader.user}"


def read_argv(plane: ControllerPlane, reader: DriftReader) -> list[str]:
    """The read, as the forced command runs it: the schedulers' Python, the script, the stack's paths."""
    deploy = plane.deploy
    units = [
        f"{fragment}={unit.unit}={unit.fragment_path}"
        for fragment, unit in (("nova", deploy.nova), ("cinder", deploy.cinder))
    ]
    return [deploy.python, reader.script, deploy.state_dir, *units]


def authorized_keys_line(plane: ControllerPlane, reader: DriftReader) -> str:
    """The reader's one authorized_keys line (its format: webex_cloud/forced_command.py)."""
    return forced_command_line(read_argv(plane, reader), reader.public_key)
