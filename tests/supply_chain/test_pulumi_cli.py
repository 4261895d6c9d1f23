"""The Pulumi CLI the deploy installs: pinned to the version the program is tested with and refused
unless its archive's SHA-256 is the pinned one. scripts/install-pulumi.sh is run against archives
served from a file URL (no traffic leaves the machine)."""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

SCRIPT = REPO / "scripts" / "install-pulumi.sh"
PIN = REPO / "constraints" / "pulumi-cli.txt"


def pinned(key: str, pin: Path = PIN) -> str:
    values = dict(
        line.split("=", 1) for line in pin.read_text().splitlines() if "=" in line and line[0] != "#"
    )
    return values[key]


def archive(folder: Path, version: str, *, says: str | None = None) -> Path:
    """A release archive laid out as Pulumi's (pulumi/pulumi, pulumi/pulumi-language-python, ...), whose
    stand-in `pulumi version` prints what the real one prints: v<version>."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"pulumi-v{version}-linux-x64.tar.gz"
    members = {
        "pulumi/pulumi": f"#!/bin/sh\necho v{says or version}\n",
        "pulumi/pulumi-language-python": "#!/bin/sh\nexit 0\n",
    }
    with tarfile.open(target, "w:gz") as tar:
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return target


def pin_file(folder: Path, version: str, digest: str) -> Path:
    target = folder / "pulumi-cli.txt"
    target.write_text(f"# test pin\nversion={version}\nsha256-linux-x64={digest}\n")
    return target


def install(
    dest: Path, pin: Path, served: Path, github_path: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PULUMI_CLI_PIN": str(pin), "PULUMI_RELEASES_URL": served.as_uri()}
    env.pop("GITHUB_PATH", None)
    if github_path is not None:
        env["GITHUB_PATH"] = str(github_path)
    return subprocess.run(
        ["bash", str(SCRIPT), str(dest)], env=env, capture_output=True, text=True, check=False, timeout=120
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_pinned_cli_is_the_version_the_program_is_tested_with() -> None:
    version = pinned("version")
    assert version == importlib.metadata.version("pulumi")
    assert f"pulumi=={version}\n" in (REPO / "requirements.txt").read_text()


def test_the_deploy_installs_the_cli_through_the_script_only() -> None:
    job = yaml.safe_load((REPO / ".github" / "workflows" / "deploy-stack.yml").read_text())["jobs"]["up"]
    assert not any("pulumi/actions" in step.get("uses", "") for step in job["steps"])
    runs = [step.get("run", "") for step in job["steps"]]
    install_at = runs.index('bash scripts/install-pulumi.sh "$RUNNER_TEMP/pulumi-cli"')
    assert install_at < next(i for i, run in enumerate(runs) if "pulumi login" in run)


def test_an_archive_with_the_pinned_checksum_is_installed_and_put_on_the_path(tmp_path: Path) -> None:
    served = archive(tmp_path / "served", "3.272.0")
    github_path = tmp_path / "github_path"
    done = install(
        tmp_path / "dest", pin_file(tmp_path, "3.272.0", sha256(served)), served.parent, github_path
    )
    assert done.returncode == 0, done.stderr
    cli = tmp_path / "dest" / "pulumi" / "pulumi"
    assert subprocess.run([cli, "version"], capture_output=True, text=True, check=True).stdout == "v3.272.0\n"
    assert github_path.read_text() == f"{cli.parent}\n"
    # Run again (a runner that keeps its tool folder): the CLI is replaced, not nested.
    assert (
        install(tmp_path / "dest", pin_file(tmp_path, "3.272.0", sha256(served)), served.parent).returncode
        == 0
    )
    assert sorted(p.name for p in (tmp_path / "dest").iterdir()) == ["pulumi"]


def test_an_archive_with_other_bytes_is_refused_and_nothing_is_installed(tmp_path: Path) -> None:
    genuine = archive(tmp_path / "genuine", "3.272.0")
    swapped = archive(tmp_path / "served", "3.272.0", says="3.272.0-evil")
    assert sha256(genuine) != sha256(swapped)
    github_path = tmp_path / "github_path"
    done = install(
        tmp_path / "dest", pin_file(tmp_path, "3.272.0", sha256(genuine)), swapped.parent, github_path
    )
    assert done.returncode == 1
    assert f"SHA-256 {sha256(swapped)}" in done.stderr and "refusing to install it" in done.stderr
    assert not (tmp_path / "dest").exists() and not github_path.exists()


def test_a_cli_that_reports_another_version_is_refused(tmp_path: Path) -> None:
    """The right bytes for the wrong pin: an archive of another version under the pinned name."""
    served = archive(tmp_path / "served", "3.272.0", says="3.100.0")
    done = install(tmp_path / "dest", pin_file(tmp_path, "3.272.0", sha256(served)), served.parent)
    assert done.returncode == 1 and "the CLI says v3.100.0, not v3.272.0" in done.stderr
    assert not (tmp_path / "dest").exists()


@pytest.mark.parametrize(
    ("version", "digest", "says"),
    [
        (
            "3.272.0",
            "",
            "sha256-linux-x64=(empty) is not a SHA-256; copy it from pulumi-3.272.0-checksums.txt",
        ),
        ("3.272.0", "abc", "sha256-linux-x64=abc is not a SHA-256"),
        ("latest", "0" * 64, "version=latest is not X.Y.Z"),
    ],
)
def test_an_unusable_pin_is_refused_before_any_download(
    tmp_path: Path, version: str, digest: str, says: str
) -> None:
    # Nothing is served: a download attempt would fail with "could not download"; the refusal comes first.
    done = install(tmp_path / "dest", pin_file(tmp_path, version, digest), tmp_path / "nothing-served")
    assert done.returncode == 2 and says in done.stderr, done.stderr
    assert not (tmp_path / "dest").exists()


def test_a_missing_archive_is_named(tmp_path: Path) -> None:
    (tmp_path / "served").mkdir()
    done = install(tmp_path / "dest", pin_file(tmp_path, "3.272.0", "0" * 64), tmp_path / "served")
    assert (
        done.returncode == 1
        and "could not download" in done.stderr
        and "pulumi-v3.272.0-linux-x64" in done.stderr
    )


def test_a_plain_http_download_is_refused(tmp_path: Path) -> None:
    """Only https (and file, for mirrors on disk): the checksum is the guard, TLS the second one."""
    env = {
        **os.environ,
        "PULUMI_CLI_PIN": str(pin_file(tmp_path, "3.272.0", "0" * 64)),
        "PULUMI_RELEASES_URL": "http://127.0.0.1:9",
    }
    done = subprocess.run(
        ["bash", str(SCRIPT), str(tmp_path / "dest")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 1 and "could not download http://127.0.0.1:9/" in done.stderr
    assert "Protocol" in done.stderr or "protocol" in done.stderr
