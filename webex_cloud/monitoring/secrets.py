"""The secrets a deployed monitoring pair needs on its nodes, and the one way they get there.

What: every file a receiver names (PagerDuty ``routing_key_file``, a webhook's ``credentials_file``, the
watchdog's), and :data:`READER_ENV`, the ``OS_*`` environment Prometheus' OpenStack discovery
authenticates with (Prometheus v2.42.0 ``discovery/openstack/openstack.go`` ``newRefresher``: with no
``identity_endpoint`` in the SD config it calls gophercloud's ``openstack.AuthOptionsFromEnv``).

Where from: the stack file's :data:`CONFIG_KEY`, one ``secure:`` value per file name, as
``pulumi config set --secret --path 'monitoringSecrets["team-media.key"]' <value>`` writes it. Never the
user data (any reader of the server sees it), never a generated or committed file in clear.

Where to: :data:`SECRETS_DIR` on each node, each file mode 0600 owned by :data:`OWNER` (Debian bookworm's
``prometheus`` and ``prometheus-alertmanager`` units both run ``User=prometheus``), through the deploy's
SSH login (monitoring_ops/secrets.py) and :data:`HELPER`, a root script the user data installs and the
login may run through ``sudo`` with no argument: it reads the files as a tar on stdin (never argv, never
a log), installs them, removes the ones no longer sent, and restarts Prometheus only when
:data:`READER_ENV` changed (a unit reads its environment at start; a reload does not).

Not pulumi-command's ``remote.Command``: its connection pins one fixed ``hostKey`` input or trusts any
key (pulumi-command v1.2.1 ``provider/pkg/provider/remote/connection.go``: ``ssh.FixedHostKey``, else
``ssh.InsecureIgnoreHostKey``), and a node's host keys exist only once it has booted (cloud-init makes
them, ``ssh_deletekeys``), known from its console after the ``up`` that creates it
(monitoring_ops/host_keys.py). The deploy's reload step already holds those pinned keys.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from webex_cloud.config.models import Monitoring, Receiver

CONFIG_KEY: Final = "webex-cloud:monitoringSecrets"
"""Stack config key holding one ``secure:`` value per secret file name."""
SECRETS_DIR: Final = "/etc/prometheus/secrets"
OWNER: Final = "prometheus"
"""The user Debian's Prometheus and Alertmanager run as; the secret files are its own, mode 0600."""
READER_ENV: Final = "openstack.env"
"""The reader identity's ``OS_*`` variables, the Prometheus unit's ``EnvironmentFile``."""
HELPER: Final = "/usr/local/sbin/webex-monitoring-secrets"
FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
"""A secret file's name: no path, no leading dot (the helper's own temporary files start with one)."""

READER_REQUIRED: Final = ("OS_AUTH_URL", "OS_APPLICATION_CREDENTIAL_ID", "OS_APPLICATION_CREDENTIAL_SECRET")
"""An application credential of the reader identity (docs/identities.md): gophercloud's
``AuthOptionsFromEnv`` builds its authentication from these (and ``OS_REGION_NAME`` ... if given)."""
READER_OPTIONAL: Final = ("OS_REGION_NAME", "OS_INTERFACE", "OS_APPLICATION_CREDENTIAL_NAME", "OS_AUTH_TYPE")
ENV_VALUE = re.compile(r"^[A-Za-z0-9._~:/@+=%,-]+$")
"""A value systemd's ``EnvironmentFile`` reads verbatim: no quote, backslash, space or ``$``."""


class SecretsUnusable(ValueError):
    """The stack's monitoring secrets are missing, in clear, or malformed; the message names file,
    field and fix (never a secret's value)."""


@dataclass(frozen=True)
class SecretFile:
    name: str
    """File name under :data:`SECRETS_DIR`."""
    field: str
    """The stack-file field naming it (``monitoring.receivers.team-media.pagerduty.routing_key_file``)."""


def _receiver_files(receiver: Receiver, field: str) -> list[tuple[str, str]]:
    if receiver.pagerduty is not None:
        return [(receiver.pagerduty.routing_key_file, f"{field}.pagerduty.routing_key_file")]
    if receiver.webhook is not None and receiver.webhook.credentials_file is not None:
        return [(receiver.webhook.credentials_file, f"{field}.webhook.credentials_file")]
    return []


def named_files(monitoring: Monitoring) -> list[tuple[str, str]]:
    """(path on the node, field) of every secret file the receivers and the watchdog name."""
    found = [
        item
        for owner, receiver in sorted(monitoring.receivers.items())
        for item in _receiver_files(receiver, f"monitoring.receivers.{owner}")
    ]
    return found + _receiver_files(monitoring.watchdog, "monitoring.watchdog")


def placement_problems(monitoring: Monitoring) -> list[tuple[str, str]]:
    """(field, message) for a deployed pair's secret files the deploy could not place."""
    problems = []
    for path, field in named_files(monitoring):
        folder, name = posixpath.split(path)
        if folder != SECRETS_DIR or not FILE_NAME.match(name):
            problems.append(
                (
                    field,
                    f"{path}: the deploy places the pair's secrets in {SECRETS_DIR}/ only (a file name of "
                    f"letters, digits, '.', '_', '-'); use {SECRETS_DIR}/<name>",
                )
            )
        elif name == READER_ENV:
            problems.append((field, f"{path} is the reader identity's environment; name the file otherwise"))
    return problems


def required(monitoring: Monitoring) -> list[SecretFile]:
    """Every file the deploy places on the pair: one per receiver's file (a file two receivers share
    once), and the reader's environment."""
    files: dict[str, SecretFile] = {}
    for path, field in named_files(monitoring):
        name = posixpath.basename(path)
        files.setdefault(name, SecretFile(name, field))
    files[READER_ENV] = SecretFile(READER_ENV, "identities.reader (Prometheus' OpenStack discovery)")
    return list(files.values())


def config_field(name: str) -> str:
    return f'config.{CONFIG_KEY}["{name}"]'


def set_command(stack: str, name: str, what: str) -> str:
    key = CONFIG_KEY.partition(":")[2]
    return f"pulumi config set --secret --stack {stack} --path '{key}[\"{name}\"]' {what}"


def check_declared(
    stack_config: Mapping[str, object], monitoring: Monitoring, stack: str, label: str
) -> None:
    """Raise SecretsUnusable unless the stack file holds exactly the secrets the pair needs, each
    encrypted (offline: nothing is decrypted here)."""
    raw = stack_config.get(CONFIG_KEY)
    given: Mapping[str, object] = raw if isinstance(raw, Mapping) else {}
    problems = [f"{label}: config.webex-cloud:datacenter.{f}: {m}" for f, m in placement_problems(monitoring)]
    if raw is not None and not isinstance(raw, Mapping):
        problems.append(f"{label}: config.{CONFIG_KEY}: not a mapping of file name to secret")
    wanted = required(monitoring)
    for secret in wanted:
        value = given.get(secret.name)
        what = "<the reader's OS_* lines>" if secret.name == READER_ENV else "<value>"
        if value is None:
            problems.append(
                f"{label}: {config_field(secret.name)}: no secret for {SECRETS_DIR}/{secret.name} "
                f"({secret.field}); run `{set_command(stack, secret.name, what)}`"
            )
        elif not (isinstance(value, Mapping) and set(value) == {"secure"}):
            problems.append(
                f"{label}: {config_field(secret.name)}: in clear in a committed file; remove it, rotate it "
                f"and run `{set_command(stack, secret.name, what)}`"
            )
    names = {secret.name for secret in wanted}
    for extra in sorted(set(given) - names):
        problems.append(
            f"{label}: {config_field(str(extra))}: no receiver names {SECRETS_DIR}/{extra} (nor is it "
            f"{READER_ENV}); remove it (`pulumi config rm --stack {stack} --path '"
            f'{CONFIG_KEY.partition(":")[2]}["{extra}"]\'`)'
        )
    if problems:
        raise SecretsUnusable("\n".join(problems))


def reader_env(text: str, region: str, label: str) -> str:
    """The reader's decrypted ``OS_*`` lines as the unit's environment file (region added when absent);
    raises SecretsUnusable naming the variable, never its value."""
    field = f"{label}: {config_field(READER_ENV)}"
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, separator, value = line.removeprefix("export ").partition("=")
        if not separator or name not in (*READER_REQUIRED, *READER_OPTIONAL):
            raise SecretsUnusable(
                f"{field}: line {number} is not <name>=<value> with a name among "
                f"{', '.join((*READER_REQUIRED, *READER_OPTIONAL))}"
            )
        if not ENV_VALUE.match(value):
            raise SecretsUnusable(
                f"{field}: {name} holds a quote, backslash, space or $ (or nothing); give the bare value"
            )
        values[name] = value
    missing = [name for name in READER_REQUIRED if name not in values]
    if missing:
        raise SecretsUnusable(
            f"{field}: {', '.join(missing)} missing; discovery authenticates as the reader's application "
            "credential (docs/identities.md)"
        )
    values.setdefault("OS_REGION_NAME", region)
    return "".join(f"{name}={value}\n" for name, value in values.items())


def helper_script() -> str:
    """:data:`HELPER`, run as root through sudo by the deploy's login: the secret files arrive as a tar
    on stdin. Only plain files with a :data:`FILE_NAME` name are accepted, each installed atomically
    (``install`` to a dot-file, then ``mv``) as :data:`OWNER`, 0600; the folder holds exactly what was
    sent afterwards. A changed :data:`READER_ENV` restarts Prometheus, and the script waits until it is
    ready again, so the deploy never has both nodes restarting at once."""
    return f"""#!/bin/sh
# Written by the monitoring node's user data (webex_cloud/monitoring/secrets.py). Run by the deploy's
# login through sudo, the secrets as a tar on stdin; prints names, never contents.
set -eu
umask 077
dir={SECRETS_DIR}
owner={OWNER}
in=$(mktemp -d)
trap 'rm -rf "$in"' EXIT
tar -C "$in" --no-same-owner --no-same-permissions -xf -
install -d -o root -g "$owner" -m 0750 "$dir"
changed=""
count=0
for f in $(cd "$in" && find . -mindepth 1 | sort); do
  n=${{f#./}}
  case "$n" in
    */*|.*|*[!A-Za-z0-9._-]*) echo "refused: $n is not a plain file name" >&2; exit 2 ;;
  esac
  [ -f "$in/$n" ] && [ ! -L "$in/$n" ] || {{ echo "refused: $n is not a plain file" >&2; exit 2; }}
  cmp -s "$in/$n" "$dir/$n" || changed="$changed $n"
  install -o "$owner" -g "$owner" -m 0600 "$in/$n" "$dir/.$n.new"
  mv -f "$dir/.$n.new" "$dir/$n"
  count=$((count + 1))
done
for f in "$dir"/* "$dir"/.[!.]*; do
  [ -e "$f" ] || continue
  n=${{f##*/}}
  [ -e "$in/$n" ] && continue
  rm -f "$f"
  case "$n" in .*) ;; *) changed="$changed $n" ;; esac
done
echo "secrets: $count in place, changed:${{changed:- none}}"
case " $changed " in
  *" {READER_ENV} "*)
    systemctl restart prometheus
    for _ in $(seq 120); do
      if curl -sf -o /dev/null http://127.0.0.1:9090/-/ready; then
        echo "prometheus restarted with the new {READER_ENV}"; exit 0
      fi
      sleep 1
    done
    echo "prometheus is not ready 120 s after its restart for the new {READER_ENV}" >&2
    exit 1 ;;
esac
"""


PROMETHEUS_DROP_IN: Final = "/etc/systemd/system/prometheus.service.d/webex-reader.conf"
"""Adds :data:`READER_ENV` to Debian's unit (which keeps its own ``EnvironmentFile=/etc/default/prometheus``);
``-``: a node whose secrets are not placed yet still starts, watching without discovery."""


def prometheus_drop_in() -> str:
    return f"[Service]\nEnvironmentFile=-{SECRETS_DIR}/{READER_ENV}\n"


def sudo_rule() -> str:
    """cloud-init ``users[].sudo``: the deploy's login may run the helper as root, with no argument."""
    return f'ALL=(root) NOPASSWD: {HELPER} ""'
