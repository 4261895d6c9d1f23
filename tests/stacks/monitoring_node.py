"""Stand-ins for the deploy's monitoring nodes in the workflow replays (tests/stacks/test_rollback_replay.py).

`ssh`: each node, by address, is a folder under ``<bin>/nodes/``, reached only when the login is held
to the host key the node presents (tests/monitoring/host_keys_stand_in.py); the remote command runs
there with its ``/etc/prometheus`` mapped into it, as the node's login shell would run it. `curl` on the
node is its Prometheus (:9090) and Alertmanager (:9093): on a reload they load the folder as the real
ones do (the rule groups with their labels, the scrape configuration, Alertmanager's config hash computed
as v0.25.0 computes it), so the deploy's read-back sees what was installed. A node listed in
``STAND_IN_REFUSE`` refuses its Prometheus reload. Nothing leaves the machine: the stack's node
addresses are 10.x.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.monitoring.host_keys_stand_in import check_host_key
from webex_cloud.monitoring import facts_login

# A deploy's reload starts these stand-ins some twenty times per stack, each a Python of its own: the
# modules only some calls need (the config models, the reload, pytest's conftest: ~0.6 s of imports
# a call) are imported inside the functions that use them.

FAKE_CIPHER = "fake-cipher:"
"""What stands for Pulumi's ciphertext in the tests' stack files: the base64 of a fake value."""


def add_fake_secrets(stack_file: Path) -> dict[str, str]:
    """Give the stack file one "encrypted" value per secret its deployed pair needs (fake values, as
    `pulumi config set --secret --path` would lay them out); returns them in clear."""
    from webex_cloud.config.loader import parse_datacenter
    from webex_cloud.monitoring import secrets

    document = yaml.safe_load(stack_file.read_text())
    stack = stack_file.name.removeprefix("Pulumi.").removesuffix(".yaml")
    monitoring = parse_datacenter(document["config"]["webex-cloud:datacenter"], stack).monitoring
    assert monitoring is not None
    clear = {
        secret.name: f"fake-{secret.name}-value" if secret.name != secrets.READER_ENV else FAKE_READER
        for secret in secrets.required(monitoring)
    }
    document["config"][secrets.CONFIG_KEY] = {
        name: {"secure": FAKE_CIPHER + base64.b64encode(value.encode()).decode()}
        for name, value in clear.items()
    }
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
    return clear


FAKE_READER = (
    "OS_AUTH_URL=https://keystone.dc.example:5000/v3\n"
    "OS_APPLICATION_CREDENTIAL_ID=0123456789abcdef\n"
    "OS_APPLICATION_CREDENTIAL_SECRET=fake-application-credential-secret\n"
)


def pulumi_config(argv: list[str]) -> int:
    """`pulumi config --show-secrets --json --stack S` in a project: its stack file's config, each fake
    "ciphertext" decoded, in the CLI's JSON shape (an object's leaves in ``objectValue``)."""
    if argv[:3] != ["config", "--show-secrets", "--json"]:
        sys.stderr.write(f"stand-in pulumi: unexpected {argv}\n")
        return 2
    stack = argv[argv.index("--stack") + 1].rpartition("/")[2]  # organization/webex-cloud/<stack>
    config = yaml.safe_load((Path.cwd() / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]

    def clear(value: Any) -> Any:
        if isinstance(value, dict) and set(value) == {"secure"}:
            return base64.b64decode(value["secure"].removeprefix(FAKE_CIPHER)).decode()
        if isinstance(value, dict):
            return {k: clear(v) for k, v in value.items()}
        return value

    out = {}
    for key, value in config.items():
        shown = clear(value)
        out[key] = (
            {"objectValue": shown, "secret": shown != value} if isinstance(shown, dict) else {"value": shown}
        )
    sys.stdout.write(json.dumps(out))
    return 0


def install(bin_dir: Path, pulumi: bool = False) -> None:
    """``bin_dir/ssh`` and ``bin_dir/node-bin/curl``, ``systemctl``: executables running :func:`ssh`,
    :func:`curl` and :func:`systemctl`; with ``pulumi``, ``bin_dir/pulumi`` running
    :func:`pulumi_config`."""
    from tests.conftest import REPO

    (bin_dir / "node-bin").mkdir(parents=True, exist_ok=True)
    calls = [
        ("ssh", f"ssh(sys.argv[1:], Path({str(bin_dir)!r}))"),
        ("node-bin/curl", "curl(sys.argv[1:])"),
        ("node-bin/systemctl", "systemctl(sys.argv[1:])"),
    ]
    if pulumi:
        calls.append(("pulumi", "pulumi_config(sys.argv[1:])"))
    for name, call in calls:
        (bin_dir / name).write_text(
            f"#!{sys.executable}\nimport sys\nfrom pathlib import Path\nsys.path.insert(0, {str(REPO)!r})\n"
            "from tests.stacks.monitoring_node import curl, pulumi_config, ssh, systemctl\n"
            f"sys.exit({call})\n"
        )
        (bin_dir / name).chmod(0o755)


def ssh(argv: list[str], bin_dir: Path) -> int:
    known_hosts = next(Path(o.split("=", 1)[1]) for o in argv if o.startswith("UserKnownHostsFile="))
    mode = oct(known_hosts.stat().st_mode & 0o777) if known_hosts.exists() else None
    argv = check_host_key(argv)  # the node's own key, pinned from its console (host_keys_stand_in.py)
    login, command = argv[0], argv[-1]
    node = bin_dir / "nodes" / login.split("@")[1]
    (node / "etc/prometheus/rules").mkdir(parents=True, exist_ok=True)
    with (bin_dir / "ssh.jsonl").open("a") as out:
        seen = {
            "login": login,
            "agent": "SSH_AUTH_SOCK" in os.environ,
            "command": command,
            "known_hosts": mode,
        }
        out.write(json.dumps(seen) + "\n")
    env = {**os.environ, "NODE": str(node), "PATH": f"{bin_dir / 'node-bin'}{os.pathsep}{os.environ['PATH']}"}
    if login.startswith(f"{facts_login.FACTS_USER}@"):
        # sshd's forced command (facts_login.authorized_key): the receiver, whatever the client asked,
        # with the node's textfile folder inside the node's folder.
        folder = node / facts_login.TEXTFILE_DIR.lstrip("/")
        folder.mkdir(parents=True, exist_ok=True)
        receiver = node / "webex-facts-receive"
        receiver.write_text(facts_login.receiver_script())
        return subprocess.run([sys.executable, str(receiver), str(folder)], env=env, check=False).returncode
    if command.startswith("sudo -n "):
        return _sudo(command, node, env)
    command = command.replace("/etc/prometheus", str(node / "etc/prometheus"))
    return subprocess.run(["bash", "-c", command], env=env, check=False).returncode


def _sudo(command: str, node: Path, env: dict[str, str]) -> int:
    from webex_cloud.monitoring import secrets

    if command == f"sudo -n {secrets.HELPER}" and os.environ.get("STAND_IN_SUDO_REFUSED"):
        sys.stderr.write("sudo: a password is required\n")
        return 1
    if command == f"sudo -n {secrets.HELPER}":
        # The node's sudo rule allows exactly this: the helper its user data installs, run as root. Here
        # it runs as the test's user, owning the files itself.
        helper = node / "helper.sh"
        helper.write_text(
            secrets.helper_script()
            .replace("/etc/prometheus", str(node / "etc/prometheus"))
            .replace(f"owner={secrets.OWNER}", "owner=$(id -un)")
            .replace("-o root", '-o "$owner"')
        )
        return subprocess.run(["sh", str(helper)], env=env, check=False).returncode
    command = command.replace("/etc/prometheus", str(node / "etc/prometheus"))
    return subprocess.run(["bash", "-c", command], env=env, check=False).returncode


def systemctl(argv: list[str]) -> None:
    """The node's systemd: records what is restarted."""
    with (Path(os.environ["NODE"]) / "systemctl.log").open("a") as out:
        out.write(" ".join(argv) + "\n")


def _groups(config: Path) -> list[dict[str, Any]]:
    return [
        {
            "file": str(path),
            "name": group["name"],
            "rules": [
                {"name": rule.get("alert") or rule.get("record"), "labels": rule.get("labels", {})}
                for rule in group["rules"]
            ],
        }
        for path in sorted((config / "rules").glob("*.rules.yml"))
        for group in yaml.safe_load(path.read_text())["groups"]
    ]


def curl(argv: list[str]) -> None:
    method, url = (argv[argv.index("-X") + 1] if "-X" in argv else "GET"), argv[-1]
    if url.endswith("/-/ready"):
        return  # the helper waits for a restarted Prometheus (-o /dev/null)
    port, path = url.split("127.0.0.1:")[1].split("/", 1)
    node = Path(os.environ["NODE"])
    config, state_file = node / "etc/prometheus", node / "state.json"
    fresh: dict[str, Any] = {"at": 1.0, "groups": [], "yaml": "{}", "am": 0.0}
    state: dict[str, Any] = json.loads(state_file.read_text()) if state_file.exists() else fresh
    status, body = 200, ""
    refused = node.name in os.environ.get("STAND_IN_REFUSE", "").split()
    if port == "9090" and method == "POST" and refused:
        status, body = 500, "failed to reload config: stand-in refusal"
    elif port == "9090" and method == "POST":
        state.update(at=state["at"] + 1, yaml=(config / "prometheus.yml").read_text(), groups=_groups(config))
    elif port == "9093" and method == "POST":
        from webex_cloud.monitoring_ops.reload import alertmanager_hash

        state["am"] = alertmanager_hash((config / "alertmanager.yml").read_bytes())
    elif path == "metrics" and port == "9090":
        body = (
            "prometheus_config_last_reload_successful 1\n"
            f"prometheus_config_last_reload_success_timestamp_seconds {state['at']}\n"
        )
    elif path == "metrics":
        body = f"alertmanager_config_last_reload_successful 1\nalertmanager_config_hash {state['am']}\n"
    elif path == "api/v1/rules":
        body = json.dumps({"status": "success", "data": {"groups": state["groups"]}})
    elif path == "api/v1/status/config":
        body = json.dumps({"status": "success", "data": {"yaml": state["yaml"]}})
    state_file.write_text(json.dumps(state))
    sys.stdout.write(f"{body}\n{status}")  # curl -w '\n%{http_code}'
