"""A real S3 server on loopback (moto's standalone server) holding stacks in Pulumi's DIY layout."""

from __future__ import annotations

import gzip
import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from webex_cloud.facts.stand_ins import image_name, stand_ins_in

PROJECT = "webex-cloud"
SIG_KEY, SIG = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    moto_server = pytest.importorskip("moto.server", reason="the state backend tests need moto[server]")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(autouse=True)
def _fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto accepts any key; these keep boto3 from looking for real ones (or using a developer's)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@dataclass
class Backend:
    """One versioned bucket laid out as `pulumi login s3://...` leaves it."""

    client: Any
    bucket: str
    endpoint: str

    @property
    def url(self) -> str:
        host = self.endpoint.removeprefix("http://")
        return f"s3://{self.bucket}?endpoint={host}&disableSSL=true&s3ForcePathStyle=true&region=us-east-1"

    def put(self, key: str, body: bytes | str) -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=key, Body=body.encode() if isinstance(body, str) else body
        )

    def versions(self) -> list[tuple[str, str]]:
        """Every object version in the bucket: a read-only reader must leave this list unchanged."""
        listed = self.client.list_object_versions(Bucket=self.bucket)
        return sorted((v["Key"], v["VersionId"]) for v in listed.get("Versions", []))

    def put_checkpoint(
        self, stack: str, document: dict[str, Any], *, project: str = PROJECT, compress: bool = False
    ) -> str:
        key = f".pulumi/stacks/{project}/{stack}.json" + (".gz" if compress else "")
        body = json.dumps(document).encode()
        self.put(key, gzip.compress(body) if compress else body)
        return key

    def lock(self, stack: str, *, project: str = PROJECT) -> str:
        key = f".pulumi/locks/organization/{project}/{stack}/{uuid.uuid4()}.json"
        self.put(
            key,
            json.dumps(
                {
                    "pid": 4242,
                    "username": "deployer",
                    "hostname": "ci-runner-7",
                    "timestamp": "2026-11-24T08:00:00Z",
                }
            ),
        )
        return key


@pytest.fixture
def backend(s3_endpoint: str) -> Backend:
    boto3 = pytest.importorskip("boto3", reason="the state backend tests need boto3")
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    bucket = f"pulumi-state-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    store = Backend(client=client, bucket=bucket, endpoint=s3_endpoint)
    store.put(".pulumi/meta.yaml", "version: 1\n")
    return store


ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17"


def _provider_side(resource_type: str, inputs: dict[str, Any]) -> None:
    """What the engine and the bridge add to the inputs they store, which no plan has.

    - The bridge's Check fills Terraform defaults at every object level and records ``__defaults``
      there: an instance's network block reads ``{"__defaults": [], "accessNetwork": false, "port":
      ...}`` in the pulumi-openstack 5.x checkpoint quoted in pulumi/pulumi-openstack#891.
    - The engine computes a ``hash`` for every asset it registers (ComputeAssetHashes in
      pulumi/pulumi pkg/resource/deploy/source_eval.go; asset.Serialize in
      sdk/go/common/resource/asset/asset.go writes it next to ``text``).
    """
    if resource_type == "openstack:compute/instance:Instance":
        for network in inputs.get("networks", []):
            network.update({"__defaults": [], "accessNetwork": False})
    source = inputs.get("source")
    if isinstance(source, dict) and source.get(SIG_KEY) == ASSET_SIG:
        source["hash"] = hashlib.sha256(str(source.get("text", "")).encode()).hexdigest()


def _recorded(planned: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
    """The outputs: the inputs, and an instance's image name as the provider's Read records it."""
    name = image_name(planned.get("imageId"))
    return {**inputs, "imageName": name} if name else dict(inputs)


def checkpoint_from_plan(
    plan: dict[str, Any], *, time: str = "2026-11-23T17:00:00.000000000Z"
) -> dict[str, Any]:
    """What `pulumi up` of this plan would have left: real (random) IDs, references rewritten to them,
    a stack resource, provider-side bookkeeping keys and a secret in Pulumi's envelope. Where the plan
    holds a stand-in (webex_cloud/facts/stand_ins.py), what the engine resolved at deploy time: a lookup's
    answer, the verified id of the image (one per name), whose Glance name the provider records."""
    real = {r["id"]: f"{uuid.uuid4()}" for r in plan["resources"] if r.get("id")}
    for value in stand_ins_in([r["inputs"] for r in plan["resources"]]):
        # One verified id per image name, whatever its pin: an image stand-in names the image first.
        real[value] = str(uuid.uuid5(uuid.NAMESPACE_URL, image_name(value) or value))

    def rewrite(value: Any) -> Any:
        if isinstance(value, str):
            return real.get(value, value)
        if isinstance(value, dict):
            return {k: rewrite(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rewrite(v) for v in value]
        return value

    stack = plan["stack"]
    resources: list[dict[str, Any]] = [
        {
            "urn": f"urn:pulumi:{stack}::{PROJECT}::pulumi:pulumi:Stack::{PROJECT}-{stack}",
            "custom": False,
            "type": "pulumi:pulumi:Stack",
            "outputs": {},
        }
    ]
    for item in plan["resources"]:
        inputs = rewrite(item["inputs"])
        inputs["__defaults"] = []
        _provider_side(item["type"], inputs)
        if item["type"] == "pulumi:providers:openstack":
            inputs["password"] = {SIG_KEY: SIG, "ciphertext": "v1:abc:def"}
        entry = {
            "urn": item["urn"],
            "custom": item["custom"],
            "type": item["type"],
            "inputs": inputs,
            "outputs": _recorded(item["inputs"], inputs),
            "parent": item["parent"] or resources[0]["urn"],
            "protect": item["protect"],
            "dependencies": item["dependencies"],
            "propertyDependencies": item["propertyDependencies"],
            "created": time,
            "modified": time,
        }
        if item["custom"]:
            entry["id"] = real.get(item["id"], item["id"])
            entry["provider"] = item["provider"]
        resources.append(entry)
    return {
        "version": 3,
        "checkpoint": {
            "stack": f"organization/{PROJECT}/{stack}",
            "latest": {
                "manifest": {"time": time, "magic": "0" * 64, "version": "v3.200.0"},
                "secrets_providers": {"type": "passphrase", "state": {"salt": "v1:salt"}},
                "resources": resources,
            },
        },
    }
