"""The last-good record beside the stack's state: in the S3 bucket ``pulumi login`` uses, or in a
``file://`` backend folder (the same layout; the replays and a single-machine setup use it).

The key is ``<backend prefix>deployments/<stack>/last-good.json``, outside ``.pulumi/`` (which the CLI
owns). The deploy identity may write it; the pull-request identities only read (docs/state-backend.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from webex_cloud import atomic
from webex_cloud.preview.state import parse_backend_url, s3_client
from webex_cloud.rollback.last_good import LastGood, LastGoodError, NoRecord, dumps, loads, record_key


def _local_root(url: str) -> Path | None:
    parts = urlsplit(url)
    return Path(unquote(parts.path)) if parts.scheme == "file" else None


def where(url: str, stack: str) -> str:
    root = _local_root(url)
    if root is not None:
        return str(root / record_key(stack))
    return parse_backend_url(url).describe(record_key(stack))


def put(url: str, record: LastGood) -> str:
    """Store ``record`` as its stack's last good deploy (replacing the previous one); return where."""
    data = dumps(record)
    root = _local_root(url)
    if root is not None:
        atomic.write_bytes(root / record_key(record.stack), data)
    else:
        location = parse_backend_url(url)
        client: Any = s3_client(location)
        client.put_object(
            Bucket=location.bucket,
            Key=location.key(record_key(record.stack)),
            Body=data,
            ContentType="application/json",
        )
    return where(url, record.stack)


def get(url: str, stack: str) -> LastGood:
    """The stack's last good deploy. Raises NoRecord when there is none, LastGoodError when it is
    unusable (or cannot be read: only a missing key is "none")."""
    root = _local_root(url)
    source = where(url, stack)
    if root is not None:
        try:
            data = (root / record_key(stack)).read_bytes()
        except FileNotFoundError:
            raise NoRecord(f"{source}: no last good deploy recorded for {stack}") from None
    else:
        location = parse_backend_url(url)
        client: Any = s3_client(location)
        try:
            data = client.get_object(Bucket=location.bucket, Key=location.key(record_key(stack)))[
                "Body"
            ].read()
        except Exception as error:  # botocore's errors are not importable without boto3
            if getattr(error, "response", {}).get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise NoRecord(f"{source}: no last good deploy recorded for {stack}") from None
            raise LastGoodError(f"{source}: cannot read the last good deploy of {stack}: {error}") from None
    return loads(data, source, stack)
