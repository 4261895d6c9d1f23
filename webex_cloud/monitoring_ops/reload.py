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
   the next node is never changed while one is failing, so one node always watches.

Run it again after a failure: a node already on the new files reloads to the same configuration.
"""

from __future__ import annotations

import http.client
import tempfile
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from webex_cloud.monitoring_ops.check import check_folder

RELOAD_TIMEOUT_S = 30.0
RELOAD_OK = "prometheus_config_last_reload_successful"
RELOAD_AT = "prometheus_config_last_reload_success_timestamp_seconds"


class ReloadFailed(Exception):
    """A node refused the new configuration or did not answer; the message names the node."""


@dataclass(frozen=True)
class Node:
    url: str
    """The node's Prometheus, ``http://host:9090`` (started with ``--web.enable-lifecycle``)."""
    config_dir: Path
    """Where that node's ``prometheus.yml`` and ``rules/`` live."""


def _request(url: str, method: str, path: str, timeout: float) -> tuple[int, str]:
    parts = urllib.parse.urlsplit(url)
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


def reload_state(url: str, timeout: float = 5.0) -> tuple[bool, float]:
    """(last reload successful, time of the last successful one) as the node reports them."""
    status, text = _request(url, "GET", "/metrics", timeout)
    if status != 200:
        raise ReloadFailed(f"{url}/metrics answered HTTP {status}")
    values: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in (RELOAD_OK, RELOAD_AT):
            values[name] = float(value)
    if set(values) != {RELOAD_OK, RELOAD_AT}:
        raise ReloadFailed(f"{url}/metrics has no {RELOAD_OK}: is it a Prometheus?")
    return values[RELOAD_OK] == 1.0, values[RELOAD_AT]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.glob("**/*.yml"))}


def _install(folder: Path, files: dict[str, bytes]) -> None:
    from webex_cloud import atomic

    for relative, data in sorted(files.items()):
        atomic.write_bytes(folder / relative, data)
    keep = {folder / relative for relative in files}
    for stale in sorted(folder.glob("**/*.yml")):
        if stale not in keep:
            stale.unlink()


def reload_node(node: Node, files: dict[str, bytes], timeout: float = RELOAD_TIMEOUT_S) -> str:
    """Install ``files`` on one node and reload it; on a refusal put its previous files back."""
    previous = _snapshot(node.config_dir)
    _, before = reload_state(node.url)
    _install(node.config_dir, files)
    # The handler answers once the reload is done: 200, or 500 with the reason (web/web.go, reload).
    status, text = _request(node.url, "POST", "/-/reload", timeout)
    ok, at = reload_state(node.url) if status == 200 else (False, before)
    if not (ok and at > before):
        _install(node.config_dir, previous)
        said = text.strip().splitlines()[0] if text.strip() else f"HTTP {status}"
        raise ReloadFailed(
            f"{node.url} refused the new configuration ({said}); its previous files are back and it "
            "keeps running them; the nodes after it were not changed"
        )
    return f"reloaded {node.url}"


def reload_pair(
    nodes: Sequence[Node],
    files: dict[str, str],
    check: Callable[[Path], list[str]] = check_folder,
    timeout: float = RELOAD_TIMEOUT_S,
) -> list[str]:
    """Check ``files``, then apply them to each node in turn; raise CheckFailed or ReloadFailed."""
    encoded = {relative: text.encode("utf-8") for relative, text in files.items()}
    with tempfile.TemporaryDirectory(prefix="webex-monitoring-") as staging:
        _install(Path(staging), encoded)
        done = check(Path(staging))
    for node in nodes:
        done.append(reload_node(node, encoded, timeout))
    return done
