"""The exit codes every command shares, and the workflows read.

0 and 1 are verdicts; 2 and 3 mean there is no verdict, so no override of blocking findings may
ever pass them (the pull-request and deploy workflows treat them as failures).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    """Nothing found: the plan is valid, no mandatory violation, no blocking risk."""
    BLOCKING = 1
    """A blocking finding: a mandatory policy violation, a blocking risk, a placement rule broken."""
    INPUT = 2
    """Unusable input: the message names the file, the field and the fix; nothing was written. Also output
    that could not all be written (a closed pipe, webex_cloud/cli_common.py ``entry``): no verdict."""
    INTERNAL = 3
    """An internal error (a bug): reported without a traceback unless WEBEX_DEBUG=1."""
