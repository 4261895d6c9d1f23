"""The start of a pr-check worker running main's policy pack (``main-policy``, commands/pr_check.py).

main's pack is judged with main's own rules on both sides of the Analyzer protocol: the pack process
(it runs in its folder, so it imports that folder's ``webex_policies``) and the facts the harness
derives through ``webex_policies`` in this process. Before the workers, ``main-policy`` was a process
of its own with the base's pack folder first on ``PYTHONPATH``; a worker serves every stack instead,
so its path is set here, before anything imports ``webex_policies`` — which is why this module
imports nothing of the project at its top: unpickling this function in a new worker imports it first.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


class JudgedPackError(RuntimeError):
    """The worker would judge with the wrong ``webex_policies``: it refuses to run any step."""


def start(policies: str) -> None:
    """Put ``policies`` (the judged project's pack folder) first on this worker's path, as the
    process's ``PYTHONPATH`` did, and keep its pack running for every stack this worker checks."""
    if "webex_policies" in sys.modules:
        raise JudgedPackError(f"webex_policies was imported before {policies} was put first on the path")
    sys.path.insert(0, policies)
    os.environ["PYTHONPATH"] = os.pathsep.join([policies, *filter(None, [os.environ.get("PYTHONPATH")])])
    import webex_policies

    from webex_cloud.policy_check.check import keep_packs_running

    found = Path(webex_policies.__file__ or "").resolve()
    if not found.is_relative_to(Path(policies).resolve()):
        raise JudgedPackError(f"webex_policies came from {found}, not from {policies}")
    keep_packs_running()
