"""Read a stack's last checkpoint from the self-managed (DIY) S3 state backend, read-only.

Layout, as pulumi/pulumi ``pkg/backend/diy`` writes it (``store.go``, ``lock.go``, ``meta.go``):

- ``.pulumi/meta.yaml`` holds ``version: 1`` for the project layout; without it the bucket uses the
  legacy layout (version 0, stacks not scoped by project).
- checkpoint: ``.pulumi/stacks/<project>/<stack>.json`` (legacy: ``.pulumi/stacks/<stack>.json``),
  or the same with ``.gz``/``.zst`` when ``PULUMI_DIY_BACKEND_GZIP=true`` / ``PULUMI_DIY_BACKEND_ZSTD=true``
  (pulumi/pulumi ``sdk/go/common/env/env.go``, ``pkg/backend/diy/backend.go``); when more than one
  variant exists (a switch of compression leaves the old file behind) the backend reads the most recently
  modified, the later key on a tie (``diyBackend.stackPath`` in ``pkg/backend/diy/state.go``, since
  pulumi/pulumi d1fb9bbdd5, before v3.259.0), and so does this reader.
- locks: one JSON object per running update under ``.pulumi/locks/organization/<project>/<stack>/``
  (the fully qualified stack name as a path; legacy: ``.pulumi/locks/<stack>/``), each
  ``{"pid", "username", "hostname", "timestamp"}``.
- the checkpoint file: ``{"version": 3, "checkpoint": {"stack": ..., "latest": {"manifest": {...},
  "resources": [...], "pending_operations": [...]}}}``.

Only GET and LIST requests are made: a locked stack, a missing stack or a corrupted checkpoint is a clear
error and nothing is ever written to the bucket.
"""

from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from webex_cloud.plan.format import clean_wire_value
from webex_cloud.preview.errors import PreviewInputError, decode_text, from_validation, parse_json
from webex_cloud.preview.plans import Resource, Snapshot

META_KEY = ".pulumi/meta.yaml"
_SUPPORTED_CHECKPOINT_VERSIONS = (3, 4)


class StateBackendError(PreviewInputError):
    """The backend cannot give a usable checkpoint (unreachable, missing, locked or corrupted stack)."""


@dataclass(frozen=True)
class BackendLocation:
    """Where a ``pulumi login s3://...`` URL points, in the terms of an S3 client."""

    url: str
    bucket: str
    prefix: str
    endpoint_url: str | None
    region: str | None
    path_style: bool
    profile: str | None

    def key(self, relative: str) -> str:
        return self.prefix + relative

    def describe(self, relative: str) -> str:
        return f"s3://{self.bucket}/{self.key(relative)}"


def parse_backend_url(url: str) -> BackendLocation:
    """Accept the URL ``pulumi login`` takes: ``s3://bucket[/prefix]?endpoint=host:port&s3ForcePathStyle=true``.

    Query parameters are gocloud's s3blob ones: ``endpoint``, ``region``, ``s3ForcePathStyle``,
    ``disableSSL`` (plain http when the endpoint has no scheme) and ``profile``.
    """
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise StateBackendError(
            url, "not an S3 backend URL; expected s3://<bucket>?endpoint=<host:port>&s3ForcePathStyle=true"
        )
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    known = {"endpoint", "region", "s3ForcePathStyle", "disableSSL", "profile", "awssdk"}
    unknown = sorted(set(query) - known)
    if unknown:
        raise StateBackendError(
            url, f"unknown parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    endpoint = query.get("endpoint")
    if endpoint and "://" not in endpoint:
        scheme = "http" if query.get("disableSSL", "").lower() == "true" else "https"
        endpoint = f"{scheme}://{endpoint}"
    prefix = parts.path.strip("/")
    return BackendLocation(
        url=url,
        bucket=parts.netloc,
        prefix=f"{prefix}/" if prefix else "",
        endpoint_url=endpoint,
        region=query.get("region"),
        path_style=query.get("s3ForcePathStyle", "").lower() == "true",
        profile=query.get("profile"),
    )


class S3Reader(Protocol):
    """The two read calls the reader needs (a boto3 S3 client satisfies it)."""

    def get_object(self, **kwargs: Any) -> Any: ...

    def list_objects_v2(self, **kwargs: Any) -> Any: ...


def s3_client(location: BackendLocation) -> S3Reader:
    """A boto3 client for the location; credentials come from the environment or the named profile."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise StateBackendError(
            location.url, "reading the state backend needs boto3 (pip install boto3)"
        ) from None
    session = boto3.session.Session(profile_name=location.profile)
    client: S3Reader = session.client(
        "s3",
        endpoint_url=location.endpoint_url,
        region_name=location.region or "us-east-1",
        config=Config(
            s3={"addressing_style": "path" if location.path_style else "auto"}, retries={"max_attempts": 2}
        ),
    )
    return client


class _Manifest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    time: str = ""
    version: str = ""


class _CheckpointResource(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    urn: str = Field(min_length=1)
    type: str
    custom: bool = False
    id: str = ""
    parent: str = ""
    inputs: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, Any] = Field(default_factory=dict)
    protect: bool = False
    delete: bool = False
    property_dependencies: dict[str, list[str]] = Field(default_factory=dict, alias="propertyDependencies")
    dependencies: list[str] = Field(default_factory=list)


class _Deployment(BaseModel):
    model_config = ConfigDict(extra="ignore")

    manifest: _Manifest = Field(default_factory=_Manifest)
    resources: list[_CheckpointResource] = Field(default_factory=list)
    pending_operations: list[Any] = Field(default_factory=list)


class _Checkpoint(BaseModel):
    model_config = ConfigDict(extra="ignore")

    stack: str
    latest: _Deployment | None = None


class _VersionedCheckpoint(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: int
    checkpoint: _Checkpoint


@dataclass(frozen=True)
class DeployedState:
    """The last checkpoint of one stack."""

    project: str
    stack: str
    location: str
    time: str
    cli_version: str
    resources: dict[str, Resource]
    pending_operations: int
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """URN -> the outputs the provider last returned (``ResourceV3.outputs``, pulumi/pulumi
    ``sdk/go/common/apitype/core.go``): what ``pulumi refresh`` compares with the live cloud."""

    def snapshot(self) -> Snapshot:
        when = f" ({self.time})" if self.time else ""
        return Snapshot(
            stack=self.stack,
            project=self.project,
            label=f"deployed checkpoint `{self.location}`{when}",
            resources=self.resources,
            pods={},
            volume_groups={},
            controllers=(),
            outputs=self.outputs,
        )


def _missing(error: Exception) -> bool:
    code = getattr(error, "response", {}).get("Error", {}).get("Code", "")
    return code in {"NoSuchKey", "404", "NotFound"}


class StateBackend:
    """Read-only access to one DIY S3 backend."""

    def __init__(self, location: BackendLocation, client: S3Reader | None = None) -> None:
        self.location = location
        self.client = client if client is not None else s3_client(location)

    def _get(self, relative: str) -> bytes | None:
        try:
            response = self.client.get_object(Bucket=self.location.bucket, Key=self.location.key(relative))
            body: bytes = response["Body"].read()
            return body
        except Exception as error:
            if _missing(error):
                return None
            raise self._failure(relative, error) from None

    def _list(self, relative_prefix: str) -> list[str]:
        return list(self._listing(relative_prefix))

    def _listing(self, relative_prefix: str) -> dict[str, Any]:
        """Every key under the prefix (relative, in the listing's order) with its ``LastModified``."""
        keys: dict[str, Any] = {}
        token: str | None = None
        while True:
            args: dict[str, Any] = {
                "Bucket": self.location.bucket,
                "Prefix": self.location.key(relative_prefix),
            }
            if token:
                args["ContinuationToken"] = token
            try:
                page = self.client.list_objects_v2(**args)
            except Exception as error:
                raise self._failure(relative_prefix, error) from None
            for item in page.get("Contents", []):
                keys[item["Key"][len(self.location.prefix) :]] = item["LastModified"]
            token = page.get("NextContinuationToken")
            if not token:
                return keys

    def _failure(self, relative: str, error: Exception) -> StateBackendError:
        code = getattr(error, "response", {}).get("Error", {}).get("Code")
        detail = f"{code}: {error}" if code else f"{type(error).__name__}: {error}"
        if code == "NoSuchBucket":
            detail = f"bucket {self.location.bucket!r} does not exist (endpoint {self.location.endpoint_url})"
        return StateBackendError(
            self.location.describe(relative), f"cannot read the state backend ({detail})"
        )

    def layout_version(self) -> int:
        raw = self._get(META_KEY)
        if raw is None:
            return 0
        try:
            meta = yaml.safe_load(raw)
        except yaml.YAMLError as error:
            raise StateBackendError(
                self.location.describe(META_KEY), f"corrupt store metadata: {error}"
            ) from None
        version = meta.get("version") if isinstance(meta, dict) else None
        if version not in (0, 1):
            raise StateBackendError(
                self.location.describe(META_KEY),
                f"unsupported state layout version {version!r} (this reader knows 0 and 1)",
            )
        return int(version)

    def _paths(self, project: str, stack: str, version: int) -> tuple[str, str]:
        if version == 1:
            return f".pulumi/stacks/{project}/{stack}", f".pulumi/locks/organization/{project}/{stack}/"
        return f".pulumi/stacks/{stack}", f".pulumi/locks/{stack}/"

    def _check_lock(self, lock_dir: str, stack: str) -> None:
        locks = [key for key in self._list(lock_dir) if not key.endswith("/")]
        if not locks:
            return
        holders = []
        for key in locks:
            raw = self._get(key) or b"{}"
            try:
                info = json.loads(raw)
                holders.append(
                    f"{info.get('username', '?')}@{info.get('hostname', '?')} (pid {info.get('pid', '?')}) "
                    f"since {info.get('timestamp', '?')}"
                )
            except (json.JSONDecodeError, AttributeError):
                holders.append(f"unreadable lock file {key}")
        raise StateBackendError(
            self.location.describe(lock_dir),
            f"stack {stack!r} is locked by {'; '.join(holders)}: an update is running, so its checkpoint "
            "is about to change. Wait for it to finish (or, if it died, `pulumi cancel`) and run the "
            "report again",
        )

    def read_checkpoint(self, project: str, stack: str) -> DeployedState:
        """The stack's last checkpoint; raises StateBackendError for a missing, locked or corrupted stack."""
        version = self.layout_version()
        base, lock_dir = self._paths(project, stack, version)
        self._check_lock(lock_dir, stack)
        variants = {base + suffix for suffix in (".json", ".json.gz", ".json.zst")}
        newest: tuple[str, Any] | None = None
        for key, modified in self._listing(base + ".json").items():
            if key in variants and (newest is None or not modified < newest[1]):
                newest = (key, modified)
        raw = self._get(newest[0]) if newest else None
        if newest and raw is not None:
            return self._decode(project, stack, newest[0], raw)
        stacks_dir = base.rsplit("/", 1)[0] + "/"
        found = sorted(
            {
                key[len(stacks_dir) :].split(".json")[0]
                for key in self._list(stacks_dir)
                if "/" not in key[len(stacks_dir) :] and ".json" in key
            }
        )
        known = f"stacks there: {', '.join(found)}" if found else "no stacks there at all"
        raise StateBackendError(
            self.location.describe(base + ".json"),
            f"no checkpoint for stack {stack!r} of project {project!r} ({known}); "
            "has it ever been deployed with this backend?",
        )

    def _decode(self, project: str, stack: str, relative: str, raw: bytes) -> DeployedState:
        return decode_checkpoint(project, stack, self.location.describe(relative), raw)


def deployed_state(state_url: str | None, checkpoint: Path | None, project: str, stack: str) -> DeployedState:
    """The stack's last checkpoint from a checkpoint file, else from the S3 backend at ``state_url``
    (raises PreviewInputError: a file or backend that cannot be read, a missing stack)."""
    if checkpoint is not None:
        return read_checkpoint_file(checkpoint, project, stack)
    if state_url is None:
        raise StateBackendError("--state", "give the state backend (`pulumi login` URL) or a checkpoint file")
    return StateBackend(parse_backend_url(state_url)).read_checkpoint(project, stack)


def read_checkpoint_file(path: Path, project: str, stack: str) -> DeployedState:
    """A checkpoint file on disk (``pulumi stack export`` of a DIY backend's ``<stack>.json[.gz]``)."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise StateBackendError(str(path), f"cannot read the checkpoint ({error.strerror})") from None
    return decode_checkpoint(project, stack, str(path), raw)


def decode_checkpoint(project: str, stack: str, where: str, raw: bytes) -> DeployedState:
    """One checkpoint's bytes (``.gz`` and ``.zst`` told by ``where``'s suffix)."""
    if where.endswith(".zst"):
        raise StateBackendError(
            where,
            "zstd-compressed checkpoints are not supported by this reader; deploy with "
            "PULUMI_DIY_BACKEND_GZIP=true (or neither switch) instead of PULUMI_DIY_BACKEND_ZSTD=true",
        )
    if where.endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as error:
            raise StateBackendError(where, f"corrupted checkpoint: not valid gzip ({error})") from None
    try:
        document = parse_json(decode_text(raw, where), where)
    except PreviewInputError as error:
        raise StateBackendError(where, f"corrupted checkpoint: {error.message}") from None
    try:
        parsed = _VersionedCheckpoint.model_validate(document)
    except ValidationError as error:
        problem = from_validation(where, error)
        raise StateBackendError(where, f"corrupted checkpoint: {problem.message}") from None
    if parsed.version not in _SUPPORTED_CHECKPOINT_VERSIONS:
        raise StateBackendError(
            where,
            f"checkpoint version {parsed.version} is not supported "
            f"(this reader knows {', '.join(map(str, _SUPPORTED_CHECKPOINT_VERSIONS))})",
        )
    named = parsed.checkpoint.stack.rsplit("/", 1)[-1]
    if named != stack:
        raise StateBackendError(
            where, f"the checkpoint is for stack {parsed.checkpoint.stack!r}, not {stack!r}"
        )
    latest = parsed.checkpoint.latest or _Deployment()
    resources: dict[str, Resource] = {}
    outputs: dict[str, dict[str, Any]] = {}
    for item in latest.resources:
        if item.delete:
            continue  # a resource pending deletion after a replace: already gone from the desired state
        resources[item.urn] = Resource(
            urn=item.urn,
            type=item.type,
            name=item.urn.rsplit("::", 1)[-1],
            id=item.id,
            custom=item.custom,
            parent=item.parent,
            inputs=clean_wire_value(item.inputs),
            property_dependencies=item.property_dependencies,
            protect=item.protect,
            replace_on_changes=frozenset(),
            dependencies=tuple(item.dependencies),
        )
        outputs[item.urn] = clean_wire_value(item.outputs)
    return DeployedState(
        project=project,
        stack=stack,
        location=where,
        time=latest.manifest.time,
        cli_version=latest.manifest.version,
        resources=resources,
        pending_operations=len(latest.pending_operations),
        outputs=outputs,
    )
