"""Start the real policy pack the way the Pulumi CLI does, and talk to it over the Analyzer protocol.

For a Python pack the CLI runs the ``pulumi-analyzer-policy-python`` shim in the pack folder with
the engine address, the program folder and ``-virtualenv=<option>`` from PulumiPolicy.yaml; the
shim runs ``<virtualenv>/bin/python -u -m pulumi.policy <engine address> .``, which executes the
pack's ``__main__.py``; ``PolicyPack(...)`` starts the gRPC Analyzer service and prints its port
on stdout (pulumi/sdk/python/dist/pulumi-analyzer-policy-python, pulumi_policy/policy.py). This
module does exactly that, minus the engine: nothing in the pack calls back into it.
"""

from __future__ import annotations

import os
import select
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc
import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

#: Same limit as the CLI and the pack use: a 10,000-resource AnalyzeStack request is tens of MB.
MAX_MESSAGE = 400 * 1024 * 1024
STARTUP_TIMEOUT = 60.0
#: Analyze calls in flight at once: the client encodes the next requests while the pack works.
PIPELINE_DEPTH = 32


class PackError(RuntimeError):
    """The pack could not be started or answered with an error; the message says what happened."""


def pack_python(pack_dir: Path) -> Path:
    """The interpreter the CLI would use: ``<virtualenv>/bin/python`` from PulumiPolicy.yaml."""
    project = pack_dir / "PulumiPolicy.yaml"
    try:
        document = yaml.safe_load(project.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise PackError(f"cannot read {project}: {error}") from None
    runtime = document.get("runtime") if isinstance(document, dict) else None
    if isinstance(runtime, str):
        runtime = {"name": runtime}
    if not isinstance(runtime, dict) or runtime.get("name") != "python":
        raise PackError(f"{project}: runtime must be python")
    virtualenv = (runtime.get("options") or {}).get("virtualenv")
    if not virtualenv:
        raise PackError(f"{project}: runtime.options.virtualenv is not set")
    python = (pack_dir / str(virtualenv)).resolve() / "bin" / "python"
    if not python.exists():
        raise PackError(f"{project}: virtualenv {virtualenv!r} has no bin/python ({python}); create it first")
    return python


class PolicyPackSession:
    """One running pack process and a gRPC stub to it; use as a context manager."""

    def __init__(self, pack_dir: Path, env: Mapping[str, str] | None = None) -> None:
        self.pack_dir = pack_dir.resolve()
        self._env = dict(env or {})
        self._process: subprocess.Popen[bytes] | None = None
        self._channel: grpc.Channel | None = None
        self._stub: analyzer_pb2_grpc.AnalyzerStub | None = None
        self._stderr: deque[str] = deque(maxlen=50)

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> PolicyPackSession:
        python = pack_python(self.pack_dir)
        # The pack's config arrives through Configure; PULUMI_CONFIG is a program's stack config, which
        # the SDK's pulumi.policy entry point json-parses before any pack code runs (a traceback when
        # it is malformed). Like the offline plan (plan/capture.py), the check ignores a shell's leftover.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_CONFIG")} | self._env
        env.pop("PYTHONHOME", None)  # the shim unsets it so the virtualenv's own stdlib is used
        env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
        # There is no engine to call back: the pack only needs the argument to be present.
        command = [str(python), "-u", "-m", "pulumi.policy", "127.0.0.1:0", "."]
        self._process = subprocess.Popen(
            command,
            cwd=self.pack_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        port = self._read_port()
        self._channel = grpc.insecure_channel(
            f"127.0.0.1:{port}",
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE),
                ("grpc.max_send_message_length", MAX_MESSAGE),
            ],
        )
        try:
            grpc.channel_ready_future(self._channel).result(timeout=STARTUP_TIMEOUT)
        except grpc.FutureTimeoutError:
            self.close()
            raise PackError(f"the pack printed port {port} but does not answer on it") from None
        self._stub = analyzer_pb2_grpc.AnalyzerStub(self._channel)
        return self

    def _drain_stderr(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        for line in self._process.stderr:
            self._stderr.append(line.decode(errors="replace").rstrip())

    def _read_port(self) -> int:
        assert self._process is not None and self._process.stdout is not None
        stdout = self._process.stdout
        deadline = time.monotonic() + STARTUP_TIMEOUT
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._process.poll() is not None:
                break
            ready, _, _ = select.select([stdout], [], [], remaining)
            if ready:
                chunk = os.read(stdout.fileno(), 64)
                if not chunk:
                    break
                line += chunk
        try:
            return int(line.strip())
        except ValueError:
            self.close()
            raise PackError(
                f"the policy pack in {self.pack_dir} did not print its port (got {line[:200]!r})"
                f"{self._stderr_tail()}"
            ) from None

    def _stderr_tail(self) -> str:
        # Give the reader of the thread a moment to collect what a crashing pack printed.
        time.sleep(0.2)
        return ("\npack stderr:\n  " + "\n  ".join(self._stderr)) if self._stderr else ""

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            # PolicyPack.__init__ serves until KeyboardInterrupt; terminate this one process only.
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self) -> PolicyPackSession:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def pid(self) -> int:
        """Process id of the running pack (the benchmark reads its CPU time)."""
        if self._process is None:
            raise PackError("the policy pack is not running (call start() or use `with`)")
        return self._process.pid

    # --- the Analyzer protocol ------------------------------------------------------------------

    @property
    def stub(self) -> analyzer_pb2_grpc.AnalyzerStub:
        if self._stub is None:
            raise PackError("the policy pack is not running (call start() or use `with`)")
        return self._stub

    def _call(self, what: str, call: Any, request: Any) -> Any:
        try:
            return call(request)
        except grpc.RpcError as error:
            raise self._rpc_error(what, error) from None

    def _rpc_error(self, what: str, error: grpc.RpcError) -> PackError:
        details = error.details() if hasattr(error, "details") else str(error)
        return PackError(f"{what} failed in the policy pack: {details}{self._stderr_tail()}")

    def handshake(self) -> None:
        """The CLI's Handshake; Python packs do not implement it, which the CLI accepts too."""
        request = analyzer_pb2.AnalyzerHandshakeRequest(
            engine_address="127.0.0.1:0",
            root_directory=str(self.pack_dir),
            program_directory=str(self.pack_dir),
        )
        try:
            self.stub.Handshake(request)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.UNIMPLEMENTED:
                raise self._rpc_error("Handshake", error) from None

    def configure_stack(self, stack: str, project: str, config: Mapping[str, Any]) -> None:
        """ConfigureStack: the stack, project and stack config, as the CLI sends them at start."""
        struct = struct_pb2.Struct()
        struct.update(dict(config))
        self._call(
            "ConfigureStack",
            self.stub.ConfigureStack,
            analyzer_pb2.AnalyzerStackConfigureRequest(
                stack=stack,
                project=project,
                organization="organization",
                config=struct,
            ),
        )

    def info(self) -> analyzer_pb2.AnalyzerInfo:
        return self._call("GetAnalyzerInfo", self.stub.GetAnalyzerInfo, empty_pb2.Empty())  # type: ignore[no-any-return]

    def configure(self, config: Mapping[str, tuple[str, Mapping[str, Any]]]) -> None:
        """Configure: policy name -> (enforcement level, properties), reconciled like the CLI does."""
        levels = {
            "advisory": analyzer_pb2.ADVISORY,
            "mandatory": analyzer_pb2.MANDATORY,
            "remediate": analyzer_pb2.REMEDIATE,
            "disabled": analyzer_pb2.DISABLED,
        }
        request = analyzer_pb2.ConfigureAnalyzerRequest()
        for name, (level, properties) in config.items():
            entry = request.policyConfig[name]
            entry.enforcementLevel = levels[level]
            entry.properties.update(dict(properties))
        self._call("Configure", self.stub.Configure, request)

    def analyze(self, requests: Iterable[analyzer_pb2.AnalyzeRequest]) -> list[analyzer_pb2.AnalyzeResponse]:
        """Analyze every request, keeping a few in flight; responses in request order."""
        responses: list[analyzer_pb2.AnalyzeResponse] = []
        in_flight: deque[tuple[analyzer_pb2.AnalyzeRequest, Any]] = deque()

        def collect_one() -> None:
            request, future = in_flight.popleft()
            try:
                responses.append(future.result())
            except grpc.RpcError as error:
                raise self._rpc_error(f"Analyze({request.urn})", error) from None

        for request in requests:
            in_flight.append((request, self.stub.Analyze.future(request)))
            if len(in_flight) >= PIPELINE_DEPTH:
                collect_one()
        while in_flight:
            collect_one()
        return responses

    def analyze_stack(self, request: analyzer_pb2.AnalyzeStackRequest) -> analyzer_pb2.AnalyzeResponse:
        return self._call("AnalyzeStack", self.stub.AnalyzeStack, request)  # type: ignore[no-any-return]


def struct_to_dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    """A protobuf Struct as plain JSON values; whole numbers as ints (a Struct carries only doubles)."""
    return dict(_whole(json_format.MessageToDict(struct)))


def _whole(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _whole(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole(v) for v in value]
    return value
