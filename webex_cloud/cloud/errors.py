"""The one error of live cloud access: the message names the cloud, the request and what to do."""

from __future__ import annotations


class CloudError(Exception):
    """The cloud could not be used as asked (exit code 2): unreachable, refused, or the wrong identity."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        """The HTTP status the API answered (None: no answer, or not an HTTP failure), so that a view
        can say what a refusal means (a policy rule, a missing resource)."""
