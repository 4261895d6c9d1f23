"""The drift reader login (components/controller_reader.py, controller/reader.py, the deploy script's
``reader`` step): what the stack installs on each controller, the stack file's key validated, and the
install itself run on a real file system (the account commands are stand-ins on PATH that record)."""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.config.test_root_commands import FIELD, problems
from tests.conftest import ProjectCopy
from tests.controller.test_controller_plan import COMMAND, COPY, of_type, pair_resources, plan
from webex_cloud.config.loader import load_deployment
from webex_cloud.controller.reader import READ_SCRIPT, read_script_sha256
from webex_cloud.controller.remote import rolling_deploy
from webex_cloud.paths import PROJECT_DIR


def _named(resources: list[dict[str, Any]], suffix: str) -> dict[str, Any]:
    (found,) = [r for r in resources if r["name"].endswith(suffix)]
    return found


def test_each_controller_gets_the_reader_after_its_rollout_with_the_forced_read_only() -> None:
    resources = pair_resources(plan("dc1"))
    plane = load_deployment(PROJECT_DIR, "dc1").datacenter.controllers
    reader = plane.drift_reader
    assert reader is not None
    for host in ("dc1-ctl-01", "dc1-ctl-02"):
        rollout = _named(of_type(resources, COMMAND), f"{host}-rollout")
        install = _named(of_type(resources, COMMAND), f"{host}-drift-reader")
        script = _named(of_type(resources, COPY), f"{host}-read-script")
        key = _named(of_type(resources, COPY), f"{host}-reader-key")
        after = set(install["dependsOn"])
        assert rollout["urn"] in after and {script["urn"], key["urn"]} <= after
        # the file drift expects is the one copied; the key file: one forced-command line, the stack's key
        assert Path(PROJECT_DIR, script["inputs"]["source"]["path"]) == READ_SCRIPT
        assert script["inputs"]["triggers"] == [read_script_sha256()]
        line = key["inputs"]["source"]["text"]
        assert line.count("\n") == 1 and line.endswith(f"{reader.public_key}\n")
        options, _, _ = line.partition(" ssh-ed25519 ")
        assert options.startswith('restrict,command="') and options.endswith('"')
        forced = shlex.split(options.removeprefix('restrict,command="').removesuffix('"'))
        assert forced == [
            "/usr/bin/python3",
            reader.script,
            plane.deploy.state_dir,
            f"nova=nova-scheduler={plane.deploy.nova.fragment_path}",
            f"cinder=cinder-scheduler={plane.deploy.cinder.fragment_path}",
        ]
        argv = shlex.split(install["inputs"]["create"])
        staging = Path(key["inputs"]["remotePath"]).parent
        assert argv[:4] == ["sudo", "-n", "/usr/bin/python3", f"{staging}/rolling_deploy.py"]
        assert argv[4:] == [
            "reader", "--user", "webex-drift", "--home", "/var/lib/webex-drift",
            "--script-from", script["inputs"]["remotePath"], "--script", reader.script,
            "--keys-from", key["inputs"]["remotePath"],
        ]  # fmt: skip
        assert shlex.split(install["inputs"]["delete"])[4:] == [
            "reader", "--user", "webex-drift", "--home", "/var/lib/webex-drift", "--remove"
        ]  # fmt: skip
        # A new release replaces it (its triggers): the old one's removal runs before the new install,
        # never after it (which would remove the login the install just made).
        assert install["deleteBeforeReplace"] is True


def test_a_stack_without_a_reader_installs_none() -> None:
    resources = pair_resources(plan("dc2"))
    assert load_deployment(PROJECT_DIR, "dc2").datacenter.controllers.drift_reader is None
    assert [r["name"] for r in resources if "reader" in r["name"] or "read-script" in r["name"]] == []


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("ssh-ed25519", "is not '<type> <base64> [comment]'"),
        ("ssh-dss AAAAB3NzaC1kc3MAAACBAP", "has the key type 'ssh-dss'"),
        ("ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQAB", "holds a key that is not of its type ssh-ed25519"),
        ("ssh-ed25519 not-base64!", "is not valid base64"),
    ],
)
def test_a_reader_key_that_is_no_public_key_line_is_refused_naming_field_and_fix(
    project: ProjectCopy, key: str, says: str
) -> None:
    project.edit_datacenter("dc1", lambda dc: dc["controllers"]["drift_reader"].update(public_key=key))
    (problem,) = [p for p in problems(project) if p.field == f"{FIELD}.drift_reader.public_key"]
    assert problem.file.endswith("Pulumi.dc1.yaml")
    assert says in problem.message and "ssh-keygen -y -f" in problem.message
    assert "DRIFT_READER_SSH_KEY" in problem.message


@pytest.mark.parametrize("user", ["root", "deploy"])
def test_the_reader_account_is_never_root_or_the_deploy_login(project: ProjectCopy, user: str) -> None:
    project.edit_datacenter("dc1", lambda dc: dc["controllers"]["drift_reader"].update(user=user))
    (problem,) = [p for p in problems(project) if p.field == f"{FIELD}.drift_reader.user"]
    assert "an account of its own" in problem.message


# ---------------------------------------------------------------------------------------------------
# The install step, as root runs it on a controller (here: this test's own user, in a temporary tree).

STAND_INS = {
    "getent": '#!/bin/sh\necho "getent $*" >> "$ACCOUNT_CALLS"\n'
    '[ -f "$ACCOUNTS/$2" ] && cat "$ACCOUNTS/$2" || exit 2\n',
    "useradd": '#!/bin/sh\necho "useradd $*" >> "$ACCOUNT_CALLS"\n'
    'for last; do :; done\necho "$last:x:998:998::/var/lib/$last:/bin/sh" > "$ACCOUNTS/$last"\n',
    # userdel refuses while a process runs as the account (USERDEL_BUSY stands for one), as shadow's does
    "userdel": '#!/bin/sh\necho "userdel $*" >> "$ACCOUNT_CALLS"\n'
    '[ -z "$USERDEL_BUSY" ] || { echo "userdel: user $1 is currently used by process 4242"; exit 8; }\n'
    'rm "$ACCOUNTS/$1"\n',
    "usermod": '#!/bin/sh\necho "usermod $*" >> "$ACCOUNT_CALLS"\n',
}


@pytest.fixture
def staged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    bin_dir, accounts = tmp_path / "bin", tmp_path / "accounts"
    bin_dir.mkdir()
    accounts.mkdir()
    for name, text in STAND_INS.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("ACCOUNTS", str(accounts))
    monkeypatch.setenv("ACCOUNT_CALLS", str(tmp_path / "calls"))
    staging = tmp_path / "staging" / "release"
    staging.mkdir(parents=True, mode=0o700)
    (staging / "read_controller.py").write_bytes(READ_SCRIPT.read_bytes())
    keys = staging / "drift_reader.keys"
    keys.write_text('restrict,command="/usr/bin/python3 /x/read.py /state" ssh-ed25519 AAAAC3Nza reader\n')
    return {"staging": staging, "keys": keys, "root": tmp_path / "controller", "accounts": accounts}


def _install(staged: dict[str, Path], *extra: str, user: str = "webex-drift") -> int:
    root = staged["root"]
    return rolling_deploy.main(
        [
            "reader", "--user", user, "--home", str(root / "var/lib" / user),
            "--script-from", str(staged["staging"] / "read_controller.py"),
            "--script", str(root / "opt/drift/read_controller.py"),
            "--keys-from", str(staged["keys"]), *extra,
        ]
    )  # fmt: skip


def test_the_install_creates_the_account_once_and_leaves_it_nothing_of_its_own(
    staged: dict[str, Path], tmp_path: Path
) -> None:
    root = staged["root"]
    (root / "var/lib").mkdir(parents=True)
    assert _install(staged) == rolling_deploy.DEPLOYED
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls == [
        "getent passwd webex-drift",
        f"useradd --system --shell /bin/sh --home-dir {root}/var/lib/webex-drift --no-create-home "
        "--password * webex-drift",
    ]
    home = root / "var/lib/webex-drift"
    keys = home / ".ssh" / "authorized_keys"
    script = root / "opt/drift/read_controller.py"
    assert keys.read_text() == staged["keys"].read_text()
    assert script.read_bytes() == READ_SCRIPT.read_bytes()
    for path, mode in ((home, 0o755), (home / ".ssh", 0o755), (keys, 0o644), (script, 0o644)):
        info = path.stat()
        # owned by whoever ran the step (root, through sudo), writable by nobody else
        assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (os.geteuid(), mode), path
    # Again (the next release): the account exists, nothing is created twice.
    (staged["accounts"] / "webex-drift").write_text(f"webex-drift:x:998:998::{home}:/bin/sh\n")
    assert _install(staged) == rolling_deploy.DEPLOYED
    assert [c for c in (tmp_path / "calls").read_text().splitlines() if c.startswith("useradd")] == calls[1:]


def _remove(home: Path, user: str = "webex-drift") -> int:
    return rolling_deploy.main(["reader", "--user", user, "--home", str(home), "--remove"])


def _installed(staged: dict[str, Path]) -> Path:
    """The reader installed, its account's home the test's tree (useradd's stand-in writes /var/lib/...)."""
    home = staged["root"] / "var/lib/webex-drift"
    home.parent.mkdir(parents=True)
    assert _install(staged) == rolling_deploy.DEPLOYED
    (staged["accounts"] / "webex-drift").write_text(f"webex-drift:x:998:998::{home}:/bin/sh\n")
    return home


def test_a_reader_removed_from_the_stack_leaves_no_account_and_no_key(
    staged: dict[str, Path], tmp_path: Path
) -> None:
    home = _installed(staged)
    assert _remove(home) == rolling_deploy.DEPLOYED
    assert not (staged["accounts"] / "webex-drift").exists(), "the account is deleted"
    assert not home.exists(), "and its home, with the key file"
    assert "userdel webex-drift" in (tmp_path / "calls").read_text().splitlines()
    # Again (a re-run of the same delete): nothing left to do, no error.
    assert _remove(home) == rolling_deploy.DEPLOYED


def test_a_reader_still_reading_when_removed_is_locked_and_expired(
    staged: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _installed(staged)
    monkeypatch.setenv("USERDEL_BUSY", "1")
    assert _remove(home) == rolling_deploy.DEPLOYED
    assert (home / ".ssh" / "authorized_keys").read_text() == "", "the key logs in no more"
    assert (tmp_path / "calls").read_text().splitlines()[-2:] == [
        "userdel webex-drift",
        "usermod --lock --expiredate 1 --shell /usr/sbin/nologin webex-drift",
    ]


def test_removing_the_reader_never_touches_an_account_of_that_name_with_another_home(
    staged: dict[str, Path], tmp_path: Path
) -> None:
    (staged["accounts"] / "alice").write_text("alice:x:1000:1000::/home/alice:/bin/bash\n")
    home = staged["root"] / "var/lib/alice"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "authorized_keys").write_text("ssh-ed25519 AAAA alice\n")
    assert _remove(home, user="alice") == rolling_deploy.DEPLOYED
    assert (staged["accounts"] / "alice").exists()
    assert (home / ".ssh" / "authorized_keys").read_text() == "ssh-ed25519 AAAA alice\n"
    assert [c for c in (tmp_path / "calls").read_text().splitlines() if "del" in c or "mod" in c] == []


def test_an_existing_account_with_another_home_is_never_taken_over(staged: dict[str, Path]) -> None:
    (staged["accounts"] / "alice").write_text("alice:x:1000:1000::/home/alice:/bin/bash\n")
    assert _install(staged, user="alice") == rolling_deploy.REFUSED
    assert not (staged["root"] / "opt").exists()


@pytest.mark.parametrize(
    "line",
    [
        "ssh-ed25519 AAAAC3Nza reader",  # no forced command: a shell for whoever holds the key
        'command="/bin/sh" ssh-ed25519 AAAAC3Nza reader',  # forced, but not restricted
        'restrict,command="/x" ssh-ed25519 AAAA one\nssh-ed25519 AAAA two',  # a second, free key
    ],
)
def test_a_key_file_that_is_not_one_restricted_forced_command_line_is_refused(
    staged: dict[str, Path], line: str
) -> None:
    staged["keys"].write_text(line + "\n")
    assert _install(staged) == rolling_deploy.REFUSED
    assert not (staged["root"] / "var").exists() and not (staged["root"] / "opt").exists()


def test_a_staging_folder_others_can_write_to_is_refused(staged: dict[str, Path]) -> None:
    staged["staging"].chmod(0o777)
    assert _install(staged) == rolling_deploy.REFUSED


def test_the_read_script_runs_alone_under_an_isolated_python(tmp_path: Path) -> None:
    """As the forced command runs it: the script file, no project on the path."""
    fragment = tmp_path / "nova.conf"
    fragment.write_text("[filter_scheduler]\n")
    done = subprocess.run(
        [sys.executable, "-I", str(READ_SCRIPT), str(tmp_path / "state"), f"nova=nova-scheduler={fragment}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert '"script_sha256": "' + read_script_sha256() + '"' in done.stdout
    assert '"current": null' in done.stdout
