"""Run the tools that read the generated files, as the deploy does before a reload.

``promtool check config`` (which also checks every rule file it names), ``promtool check rules``,
``promtool test rules`` and ``amtool check-config``, Debian bookworm's prometheus 2.42 and
prometheus-alertmanager 0.25 (``tools/monitoring/install.sh`` installs them), plus the blackbox
exporter's own ``--config.check`` when it is installed, and ``rsyslogd -N1`` on the generated log
shipping (Debian's ``rsyslog`` 8.2302, installed by the same script).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

TIMEOUT_S = 120.0
BLACKBOX = "prometheus-blackbox-exporter"
INSTALL = "tools/monitoring/install.sh"


class ToolMissing(Exception):
    """promtool or amtool is not installed; the message says how to install it."""


class CheckFailed(Exception):
    """A tool refused a generated file; the message holds the tool's own words."""


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise ToolMissing(f"{name} is not installed: run `bash {INSTALL}` (Debian's prometheus and rsyslog)")
    return found


def commands(folder: Path) -> list[list[str]]:
    rules = sorted(str(p) for p in (folder / "rules").glob("*.rules.yml"))
    tests = sorted(str(p) for p in (folder / "rules").glob("*.test.yml"))
    promtool, amtool = tool("promtool"), tool("amtool")
    found: list[list[str]] = [
        [promtool, "check", "config", str(folder / "prometheus.yml")],
        [promtool, "check", "rules", *rules],
        [promtool, "test", "rules", *tests],
        [amtool, "check-config", str(folder / "alertmanager.yml")],
    ]
    blackbox = shutil.which(BLACKBOX)
    if blackbox is not None:
        found.append([blackbox, "--config.check", f"--config.file={folder / 'blackbox.yml'}"])
    return found


def run(command: Sequence[str]) -> str:
    try:
        done = subprocess.run(list(command), capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise CheckFailed(f"{Path(command[0]).name} {command[1]}: no answer in {TIMEOUT_S:g} s") from None
    if done.returncode != 0:
        raise CheckFailed(
            f"{' '.join(Path(c).name for c in command[:3])}:\n{done.stdout}{done.stderr}".rstrip()
        )
    return f"ok: {Path(command[0]).name} {' '.join(command[1:3])}"


def check_rsyslog(folder: Path) -> list[str]:
    """``rsyslogd -N1`` (a validation run: nothing starts) on each generated drop-in, included by a main
    configuration the way Debian's ``/etc/rsyslog.conf`` includes ``/etc/rsyslog.d/*.conf``."""
    found = sorted((folder / "rsyslog").glob("*.conf"))
    if not found:
        return []
    rsyslogd = tool("rsyslogd")
    done = []
    with tempfile.TemporaryDirectory(prefix="webex-rsyslog-") as work:
        for conf in found:
            main = Path(work) / f"main-{conf.name}"
            main.write_text(
                f'module(load="imuxsock")\nglobal(workDirectory="{work}")\ninclude(file="{conf}")\n'
            )
            run([rsyslogd, "-N1", "-f", str(main)])
            done.append(f"ok: rsyslogd -N1 {conf.relative_to(folder)}")
    return done


def check_folder(folder: Path) -> list[str]:
    """Run every check on one stack's folder; raise CheckFailed on the first refusal."""
    return [run(command) for command in commands(folder)] + check_rsyslog(folder)
