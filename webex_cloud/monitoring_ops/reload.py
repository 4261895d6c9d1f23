"""Apply a changed monitoring to the Prometheus pair without a restart, one node at a time.

The sequence (Prometheus v2.42.0, ``web/web.go``: ``POST /-/reload`` with ``--web.enable-lifecycle``;
the reload's outcome in ``prometheus_config_last_reload_successful`` and
``prometheus_config_last_reload_success_timestamp_seconds`` on ``/metrics``):

1. **check**: the new files are written to a staging folder and checked by the tools that read them
   (``promtool check config``, ``check rules``, ``test rules``, ``amtool check-config``); a refusal stops
   here, and no node is touched;
2. **per node, in order**: install the files into the node's config folder (atomic writes; the generated
   files the new set no longer has are removed), ``POST /-/reload`` (answered once the reload is done) and
   confirm the node reports a successful reload newer than the one before. A node that refuses the
   reload gets its previous files back (it keeps running its previous configuration, and its disk says
   so again) and the sequence stops:
   the next node is never changed while one is failing, so one node always watches;
3. **verify**: a successful reload proves only that the node loaded *some* configuration. With the files
   goes ``rules/revision.rules.yml``, one recording rule whose ``digest`` label is the SHA-256 of every
   other file installed; the node must now serve exactly the rule groups installed, that digest among
   them (``GET /api/v1/rules``, web/api/v1/api.go in v2.42.0), and the scrape jobs of the installed
   ``prometheus.yml`` (``GET /api/v1/status/config``). A node that reloaded from another folder than the
   one written, or an older copy, fails here, by name. The series ``webex:monitoring_revision:info``
   says on every node which files it runs;
4. **Alertmanager** (same node, ``POST /-/reload`` on :9093, always enabled in v0.25.0): it must report
   ``alertmanager_config_last_reload_successful 1`` and ``alertmanager_config_hash`` equal to the hash of
   the installed ``alertmanager.yml`` (``config/coordinator.go``: the MD5 of the file's bytes, its first 6
   bytes little-endian, as a float). Refused: the node's previous files go back and its Prometheus is
   reloaded onto them, so the node runs one consistent set.

A node is reached in one of two ways: :class:`Node`, its HTTP API and a config folder this process can
write (a mount, the tests' local processes), or :class:`SshNode`, everything over one SSH login on the
node (the deploy: files by ``tar`` into ``/etc/prometheus``, the API through ``curl`` on the node's
loopback), so the deploy needs the node's SSH port, the deploy key and the node's host keys, pinned
from its console (monitoring_ops/host_keys.py): a node presenting another key gets nothing. Run it
again after a failure, or twice: a node already on the new files reloads to the same configuration and
verifies the same.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import posixpath
import subprocess
import tarfile
import tempfile
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import yaml

from webex_cloud import atomic
from webex_cloud.facts.metrics import PROMETHEUS_PORT
from webex_cloud.monitoring.contract import ALERTMANAGER_PORT
from webex_cloud.monitoring.node import CONFIG_DIR, DEPLOY_USER
from webex_cloud.monitoring_ops.check import check_folder
from webex_cloud.pinned_ssh import pinned_ssh_argv

RELOAD_TIMEOUT_S = 30.0
SSH_TIMEOUT_S = 60.0
RELOAD_OK = "prometheus_config_last_reload_successful"
RELOAD_AT = "prometheus_config_last_reload_success_timestamp_seconds"
AM_RELOAD_OK = "alertmanager_config_last_reload_successful"
AM_HASH = "alertmanager_config_hash"
REVISION_FILE = "rules/revision.rules.yml"
REVISION_GROUP = "webex-monitoring-revision"
REVISION_RECORD = "webex:monitoring_revision:info"


class ReloadFailed(Exception):
    """A node refused the new configuration, did not answer, or serves other rules; the message names it."""


class Target(Protocol):
    """What the sequence needs of one node: its API and its generated files."""

    @property
    def name(self) -> str: ...

    @property
    def has_alertmanager(self) -> bool:
        """Whether an Alertmanager reads the same folder and is reloaded with the Prometheus."""
        ...

    def request(self, method: str, path: str, timeout: float, alertmanager: bool = False) -> tuple[int, str]:
        """An HTTP request to the node's Prometheus (or its Alertmanager): (status, body)."""
        ...

    def snapshot(self) -> dict[str, bytes]: ...

    def install(self, files: dict[str, bytes]) -> None: ...


def _generated(relative: str) -> bool:
    # The generated files only: the receivers' key files under secrets/ are the deploy's, never read.
    return relative.endswith(".yml") and not relative.startswith("secrets/")


@dataclass(frozen=True)
class Node:
    url: str
    """The node's Prometheus, ``http://host:9090`` (started with ``--web.enable-lifecycle``)."""
    config_dir: Path
    """Where that node's ``prometheus.yml``, ``alertmanager.yml`` and ``rules/`` live, writable from here."""
    alertmanager_url: str | None = None
    """The node's Alertmanager reading ``alertmanager.yml`` from the same folder (None: reload none)."""

    @property
    def name(self) -> str:
        return self.url

    @property
    def has_alertmanager(self) -> bool:
        return self.alertmanager_url is not None

    def request(self, method: str, path: str, timeout: float, alertmanager: bool = False) -> tuple[int, str]:
        url = self.alertmanager_url if alertmanager else self.url
        parts = urllib.parse.urlsplit(url or "")
        if parts.scheme != "http" or parts.hostname is None:
            raise ReloadFailed(f"{url}: give the node as http://host:port")
        connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
        try:
            connection.request(method, path)
            response = connection.getresponse()
            return response.status, response.read().decode("utf-8", "replace")
        except OSError as error:
            raise ReloadFailed(f"{url}: {error.strerror or error}") from None
        finally:
            connection.close()

    def snapshot(self) -> dict[str, bytes]:
        found = {
            p.relative_to(self.config_dir).as_posix(): p for p in sorted(self.config_dir.glob("**/*.yml"))
        }
        return {relative: path.read_bytes() for relative, path in found.items() if _generated(relative)}

    def install(self, files: dict[str, bytes]) -> None:
        _install(self.config_dir, files)


@dataclass(frozen=True)
class SshNode:
    """A monitoring node the deploy reaches over SSH only (its key in scripts/with-deploy-key.sh's agent)."""

    address: str
    known_hosts: Path
    """This run's known_hosts: the node's host keys as its console shows them (monitoring_ops/host_keys)."""
    user: str = DEPLOY_USER
    config_dir: str = CONFIG_DIR
    port: int = PROMETHEUS_PORT
    alertmanager_port: int = ALERTMANAGER_PORT

    @property
    def name(self) -> str:
        return f"{self.user}@{self.address}"

    @property
    def has_alertmanager(self) -> bool:
        return True  # both run on each node of the pair (monitoring/node.py)

    def _ssh(self, command: str, stdin: bytes = b"", timeout: float = SSH_TIMEOUT_S) -> bytes:
        argv = pinned_ssh_argv(self.name, self.known_hosts, command)
        try:
            done = subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise ReloadFailed(f"{self.name}: no answer over ssh in {timeout:g} s") from None
        if done.returncode != 0:
            said = done.stderr.decode("utf-8", "replace").strip() or f"exit {done.returncode}"
            if "Host key verification failed" in said:
                raise ReloadFailed(
                    f"{self.name}: refused: the host key it presents is not one its console shows, so "
                    "nothing was sent to it. Check that nothing else answers on that address (a stale ARP "
                    "entry, a duplicated port) and that the node was not re-keyed by hand since its boot "
                    f"(docs/monitoring.md, Host keys). ssh said: {said.splitlines()[-1]}"
                )
            raise ReloadFailed(f"{self.name}: {said}")
        return done.stdout

    def request(self, method: str, path: str, timeout: float, alertmanager: bool = False) -> tuple[int, str]:
        port = self.alertmanager_port if alertmanager else self.port
        url = f"http://127.0.0.1:{port}{path}"
        out = self._ssh(
            f"curl -sS --max-time {timeout:g} -X {method} -w '\\n%{{http_code}}' '{url}'",
            timeout=timeout + 30,
        ).decode("utf-8", "replace")
        text, _, status = out.rpartition("\n")
        if not status.strip().isdigit() or status.strip() == "000":
            raise ReloadFailed(f"{self.name}: nothing answered on its 127.0.0.1:{port}")
        return int(status), text

    def snapshot(self) -> dict[str, bytes]:
        listing = f"cd {self.config_dir} && find . -maxdepth 2 -name '*.yml' -type f ! -path './secrets/*'"
        return _untar(self._ssh(f"{listing} | tar -cf - -T -"))

    def install(self, files: dict[str, bytes]) -> None:
        self._ssh(_install_script(self.config_dir), stdin=_tar(files))

    def run_as_root(self, program: str, stdin: bytes) -> bytes:
        """``program`` through ``sudo`` with no argument (the only form the node's sudo rule allows),
        ``stdin`` its input: a secret travels there, never in the command line."""
        return self._ssh(f"sudo -n {program}", stdin=stdin, timeout=SSH_TIMEOUT_S + 120)


def _install_script(folder: str) -> str:
    # Run by the login shell on the node, the new files a tar on stdin: unpacked beside the live ones (one
    # file system), renamed over them one by one, then the generated files the new set no longer has are
    # removed. Nothing under secrets/ (the receivers' keys, placed by the deploy) is listed, read or removed.
    return f"""set -eu
d={folder}
s=$(mktemp -d "$d/.incoming.XXXXXX")
trap 'rm -rf "$s" "$s.old" "$s.new"' EXIT
tar -C "$s" -xf -
(cd "$d" && find . -maxdepth 2 -name '*.yml' -type f ! -path './secrets/*') > "$s.old"
(cd "$s" && find . -name '*.yml' -type f) | while read -r f; do
  mkdir -p "$(dirname "$d/$f")"; mv -f "$s/$f" "$d/$f"; echo "$f" >> "$s.new"
done
touch "$s.new"
while read -r f; do grep -qxF "$f" "$s.new" || rm -f "$d/$f"; done < "$s.old"
"""


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for relative, data in sorted(files.items()):
            info = tarfile.TarInfo(f"./{relative}")
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _untar(data: bytes) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as archive:
        for member in archive.getmembers():
            relative = posixpath.normpath(member.name)
            extracted = archive.extractfile(member) if member.isfile() else None
            if extracted is not None and _generated(relative) and not relative.startswith(".."):
                found[relative] = extracted.read()
    return found


def _metrics(node: Target, names: tuple[str, ...], alertmanager: bool = False) -> dict[str, float]:
    status, text = node.request("GET", "/metrics", 5.0, alertmanager)
    what = "Alertmanager" if alertmanager else "Prometheus"
    if status != 200:
        raise ReloadFailed(f"{node.name}: its {what}'s /metrics answered HTTP {status}")
    values: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in names:
            values[name] = float(value)
    if set(values) != set(names):
        raise ReloadFailed(f"{node.name}: /metrics has no {names[0]}: is it a {what}?")
    return values


def reload_state(node: Target) -> tuple[bool, float]:
    """(last reload successful, time of the last successful one) as the node's Prometheus reports them."""
    values = _metrics(node, (RELOAD_OK, RELOAD_AT))
    return values[RELOAD_OK] == 1.0, values[RELOAD_AT]


def alertmanager_hash(config: bytes) -> float:
    """``alertmanager_config_hash`` of a file, as Alertmanager v0.25.0 computes it (config/coordinator.go,
    ``md5HashAsMetricValue``: the first 6 bytes of the MD5, little-endian, as a float64)."""
    return float(int.from_bytes(hashlib.md5(config, usedforsecurity=False).digest()[:6], "little"))


def with_revision(files: dict[str, bytes]) -> tuple[dict[str, bytes], str]:
    """``files`` plus the revision rule file, and the digest it carries (of every other file)."""
    others = {name: data for name, data in files.items() if name != REVISION_FILE}
    digest = hashlib.sha256()
    for name, data in sorted(others.items()):
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    rule = {"record": REVISION_RECORD, "expr": "vector(1)", "labels": {"digest": digest.hexdigest()}}
    text = (
        "# Written by `monitoring --reload`: the digest of the files installed with it.\n"
        + yaml.safe_dump({"groups": [{"name": REVISION_GROUP, "rules": [rule]}]}, sort_keys=False)
    )
    return {**others, REVISION_FILE: text.encode("utf-8")}, digest.hexdigest()


def _install(folder: Path, files: dict[str, bytes]) -> None:
    for relative, data in sorted(files.items()):
        atomic.write_bytes(folder / relative, data)
    keep = {folder / relative for relative in files}
    for stale in sorted(folder.glob("**/*.yml")):
        if stale not in keep and _generated(stale.relative_to(folder).as_posix()):
            stale.unlink()


NodeT = TypeVar("NodeT", bound=Target)

RuleGroup = tuple[str, str, tuple[str, ...]]
"""(rule file name, group name, rule names in order)."""


def expected_groups(files: dict[str, bytes]) -> set[RuleGroup]:
    found: set[RuleGroup] = set()
    for relative, data in files.items():
        if relative.startswith("rules/") and relative.endswith(".rules.yml"):
            for group in (yaml.safe_load(data) or {}).get("groups", []):
                names = tuple(r.get("alert") or r.get("record") for r in group.get("rules", []))
                found.add((posixpath.basename(relative), group["name"], names))
    return found


def expected_jobs(files: dict[str, bytes]) -> list[str]:
    config = yaml.safe_load(files.get("prometheus.yml", b"")) or {}
    return sorted(job["job_name"] for job in config.get("scrape_configs") or [])


def _api(node: Target, path: str) -> Any:
    status, text = node.request("GET", path, 10.0)
    try:
        answer = json.loads(text)
    except ValueError:
        answer = None
    if status != 200 or not isinstance(answer, dict) or answer.get("status") != "success":
        raise ReloadFailed(f"{node.name}: {path} answered HTTP {status}")
    return answer["data"]


def verify(node: Target, files: dict[str, bytes], digest: str) -> str:
    """Raise ReloadFailed unless the node serves exactly the rule groups and scrape jobs of ``files``, and
    the revision rule with ``digest``."""
    groups = _api(node, "/api/v1/rules")["groups"]
    served = {
        (posixpath.basename(g["file"]), g["name"], tuple(r["name"] for r in g["rules"])) for g in groups
    }
    revisions = [
        r.get("labels", {}).get("digest") for g in groups for r in g["rules"] if r["name"] == REVISION_RECORD
    ]
    config = yaml.safe_load(_api(node, "/api/v1/status/config")["yaml"]) or {}
    jobs = sorted(job["job_name"] for job in config.get("scrape_configs") or [])
    wanted = expected_groups(files)
    problems = []
    if served != wanted:
        missing = sorted(f"{f}:{g}" for f, g, _ in wanted - served)
        other = sorted(f"{f}:{g}" for f, g, _ in served - wanted)
        problems.append(f"rule groups missing or different {missing}, not generated {other}")
    if revisions != [digest]:
        problems.append(f"revision {', '.join(map(str, revisions)) or 'none'}, installed {digest[:12]}")
    if jobs != expected_jobs(files):
        problems.append(f"scrape jobs {jobs}, generated {expected_jobs(files)}")
    if problems:
        raise ReloadFailed(
            f"{node.name} reloaded but does not serve the generated files ({'; '.join(problems)}): is its "
            "--config.file in the folder written? The nodes after it were not changed"
        )
    return f"verified {node.name}: revision {digest[:12]}, {len(wanted)} rule groups, {len(jobs)} scrape jobs"


def _refused(node: Target, what: str, said: str) -> ReloadFailed:
    return ReloadFailed(
        f"{node.name}: {what} refused the new configuration ({said}); its previous files are back and it "
        "keeps running them; the nodes after it were not changed"
    )


def _said(status: int, text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else f"HTTP {status}"


def reload_node(node: Target, files: dict[str, bytes], timeout: float = RELOAD_TIMEOUT_S) -> list[str]:
    """Install ``files`` on one node, reload and verify its Prometheus, then its Alertmanager when the
    files hold one; on a refusal put its previous files back."""
    installed, digest = with_revision(files)
    previous = node.snapshot()
    _, before = reload_state(node)
    node.install(installed)
    # The handler answers once the reload is done: 200, or 500 with the reason (web/web.go, reload).
    status, text = node.request("POST", "/-/reload", timeout)
    ok, at = reload_state(node) if status == 200 else (False, before)
    if not (ok and at > before):
        node.install(previous)
        raise _refused(node, "Prometheus", _said(status, text))
    done = [f"reloaded {node.name}", verify(node, installed, digest)]
    config = installed.get("alertmanager.yml")
    if config is None or not node.has_alertmanager:
        return done
    status, text = node.request("POST", "/-/reload", timeout, alertmanager=True)
    values = _metrics(node, (AM_RELOAD_OK, AM_HASH), alertmanager=True)
    if status != 200 or values[AM_RELOAD_OK] != 1.0:
        node.install(previous)
        node.request("POST", "/-/reload", timeout)  # its Prometheus back on the previous files too
        node.request("POST", "/-/reload", timeout, alertmanager=True)
        raise _refused(node, "Alertmanager", _said(status, text))
    if values[AM_HASH] != alertmanager_hash(config):
        raise ReloadFailed(
            f"{node.name}: its Alertmanager reloaded but does not run the installed alertmanager.yml (hash "
            f"{values[AM_HASH]:.0f}, installed {alertmanager_hash(config):.0f}): is its --config.file in the "
            "folder written? The nodes after it were not changed"
        )
    return [*done, f"verified {node.name} Alertmanager: config hash {values[AM_HASH]:.0f}"]


def reload_pair(
    nodes: Sequence[NodeT],
    files: dict[str, str],
    check: Callable[[Path], list[str]] = check_folder,
    timeout: float = RELOAD_TIMEOUT_S,
    prepare: Callable[[NodeT], list[str]] | None = None,
) -> list[str]:
    """Check ``files``, then apply them to each node in turn, ``prepare`` (the secrets the deploy
    places) first on each; raise CheckFailed or ReloadFailed."""
    encoded = {relative: text.encode("utf-8") for relative, text in files.items()}
    with tempfile.TemporaryDirectory(prefix="webex-monitoring-") as staging:
        _install(Path(staging), encoded)
        done = check(Path(staging))
    for node in nodes:
        if prepare is not None:
            done.extend(prepare(node))
        done.extend(reload_node(node, encoded, timeout))
    return done
