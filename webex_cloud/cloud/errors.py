"""The one error of live cloud access: the message names the cloud, the request and what to do."""

from __future__ import annotations


class CloudError(Exception):
    """The cloud could not be used as asked (exit code 2): unreachable, refused, or the wrong identity."""
