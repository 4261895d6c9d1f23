#!/usr/bin/env python3
"""What drift reads on a controller: the recorded filter release and each scheduler's fragment and unit.

Runs on the controller under the schedulers' Python (3.9+, standard library only) as the drift reader
account, and only as the forced command of that account's one authorized key (the controller stack
installs both: webex_cloud/components/controller_reader.py), so the arguments are the stack's, never the
client's. It reads and writes nothing else:

    read_controller.py STATE_DIR FRAGMENT=UNIT=PATH [...]

prints one JSON document: ``script_sha256`` (this file's own digest, so drift knows it reads with the
script it expects), ``current`` (``STATE_DIR/current.json`` as the deploy script recorded it, None when
there is none), and per fragment its sha256, text and modification time, and its unit's ``ActiveState``
and ``ActiveEnterTimestamp`` (``systemctl show --timestamp=unix``, which needs no privilege). A file this
account may not read is reported as ``error``, never guessed at.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from typing import Any


def read_file(path: str) -> dict[str, Any]:
    """sha256, text and modification time of ``path``; all None when it is absent."""
    found: dict[str, Any] = {"sha256": None, "text": None, "mtime": None, "error": None}
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        found.update(
            sha256=hashlib.sha256(data).hexdigest(),
            text=data.decode("utf-8", "replace"),
            mtime=int(os.stat(path).st_mtime),
        )
    except FileNotFoundError:
        pass
    except OSError as error:
        found["error"] = f"{path}: {error.strerror or error}"
    return found


def unit_state(unit: str) -> dict[str, Any]:
    try:
        shown = subprocess.run(
            ["systemctl", "show", "--property=ActiveState,ActiveEnterTimestamp", "--timestamp=unix", unit],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
    except OSError as error:  # no systemctl: the unit's state is unknown, and said so
        shown = f"ActiveState=unknown ({error.strerror or error})"
    props = dict(line.split("=", 1) for line in shown.splitlines() if "=" in line)
    since = props.get("ActiveEnterTimestamp", "").lstrip("@")
    return {
        "unit": unit,
        "active": props.get("ActiveState", "unknown"),
        "since": int(since) if since.isdigit() else None,
    }


def read_current(state_dir: str) -> dict[str, Any] | None:
    try:
        with open(os.path.join(state_dir, "current.json"), "rb") as handle:
            current: dict[str, Any] = json.loads(handle.read().decode("utf-8"))
        return current
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        return {"unreadable": str(error)}


def report(state_dir: str, units: list[str]) -> dict[str, Any]:
    with open(os.path.abspath(__file__), "rb") as handle:
        own = hashlib.sha256(handle.read()).hexdigest()
    services: dict[str, Any] = {}
    for item in units:
        fragment, unit, path = item.split("=", 2)
        services[fragment] = {**read_file(path), **unit_state(unit)}
    return {"script_sha256": own, "current": read_current(state_dir), "services": services}


def main(argv: list[str]) -> int:
    if len(argv) < 1 or any(item.count("=") < 2 for item in argv[1:]):
        print("usage: read_controller.py STATE_DIR FRAGMENT=UNIT=PATH [...]", file=sys.stderr)
        return 2
    print(json.dumps(report(argv[0], argv[1:])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
