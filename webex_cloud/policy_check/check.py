"""Run the policy pack over a plan: the CLI's call sequence, typed verdicts, and their report."""

from __future__ import annotations

import atexit
import contextlib
import json
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pulumi.runtime.proto import analyzer_pb2

from webex_cloud.paths import PACK_DIR
from webex_cloud.policy_check.analyzer import PolicyPackSession
from webex_cloud.policy_check.config import LEVEL_NAMES, derived_config, reconcile
from webex_cloud.policy_check.wire import NO_UNKNOWNS, PlanResources, Unknowns


@dataclass(frozen=True)
class Violation:
    """One diagnostic of the pack, as the CLI would print it under the resource."""

    policy: str
    level: str
    """``mandatory`` or ``advisory`` (a ``remediate`` diagnostic counts as mandatory, as in the CLI)."""
    message: str
    """What is wrong, without the policy's description (which :attr:`description` holds)."""
    urn: str
    """The resource the finding is about; empty for the stack as a whole."""
    description: str
    stack_level: bool
    """Reported by AnalyzeStack rather than by Analyze of one resource."""

    @property
    def resource(self) -> str:
        return self.urn.rsplit("::", 1)[-1] if self.urn else "(stack)"


@dataclass(frozen=True)
class PolicyNotApplicable:
    """A policy the pack reported as not applicable to this stack, with its reason."""

    policy: str
    reason: str


@dataclass
class PolicyRun:
    """The verdicts of one stack."""

    stack: str
    pack: str
    levels: dict[str, str]
    """Policy -> enforcement level it ran with."""
    resources: int
    violations: list[Violation] = field(default_factory=list)
    not_applicable: list[PolicyNotApplicable] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall time of each phase: ``configure``, ``analyze`` (all resources), ``analyze_stack``."""

    @property
    def mandatory(self) -> list[Violation]:
        return [v for v in self.violations if v.level == "mandatory"]

    @property
    def advisory(self) -> list[Violation]:
        return [v for v in self.violations if v.level == "advisory"]

    @property
    def passed(self) -> bool:
        return not self.mandatory

    def by_policy(self, policy: str) -> list[Violation]:
        return [v for v in self.violations if v.policy == policy]


def _violations(
    response: analyzer_pb2.AnalyzeResponse, default_urn: str, stack_level: bool
) -> list[Violation]:
    out = []
    for diagnostic in response.diagnostics:
        message = diagnostic.message
        # pulumi_policy prefixes every message with the policy description and a newline.
        if diagnostic.description and message.startswith(diagnostic.description):
            message = message[len(diagnostic.description) :].lstrip("\n")
        level = LEVEL_NAMES[diagnostic.enforcementLevel]
        out.append(
            Violation(
                policy=diagnostic.policyName,
                level="mandatory" if level == "remediate" else level,
                message=message or diagnostic.description,
                # Like the engine: a resource diagnostic is about the analyzed resource.
                urn=diagnostic.urn or default_urn,
                description=diagnostic.description,
                stack_level=stack_level,
            )
        )
    return out


class PolicyChecker:
    """A running pack that checks one plan after another (the tests start it once per session)."""

    def __init__(self, pack_dir: Path = PACK_DIR) -> None:
        self.pack_dir = pack_dir
        self.session = PolicyPackSession(pack_dir, env={"PULUMI_DRY_RUN": "true"})
        self._info: analyzer_pb2.AnalyzerInfo | None = None

    def __enter__(self) -> PolicyChecker:
        self.session.start()
        try:
            self.session.handshake()
            self._info = self.session.info()
        except BaseException:
            self.session.close()  # __exit__ does not run when __enter__ fails
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.session.close()

    @property
    def info(self) -> analyzer_pb2.AnalyzerInfo:
        if self._info is None:
            raise RuntimeError("use PolicyChecker as a context manager")
        return self._info

    def config_for(
        self,
        plan: Mapping[str, Any],
        peers: Mapping[str, Mapping[str, Any]],
        overrides: Sequence[tuple[str, Mapping[str, Any]]] = (),
        released: Collection[str] | None = None,
    ) -> dict[str, tuple[str, dict[str, Any]]]:
        """Derived facts, then ``overrides`` (label, document) layers, merged and validated like the CLI;
        ``released``: the services the change releases, when the old side is known."""
        facts = derived_config(plan, peers, released)
        return reconcile(self.info, [("facts derived from the plans", facts), *overrides])

    def check(
        self,
        plan: Mapping[str, Any],
        peers: Mapping[str, Mapping[str, Any]],
        overrides: Sequence[tuple[str, Mapping[str, Any]]] = (),
        unknowns: Unknowns = NO_UNKNOWNS,
        released: Collection[str] | None = None,
    ) -> PolicyRun:
        """ConfigureStack, Configure, Analyze per resource, AnalyzeStack once; the verdicts."""
        start = time.perf_counter()
        stack = str(plan.get("stack", ""))
        config = self.config_for(plan, peers, overrides, released)
        resources = PlanResources.of(plan, unknowns)
        self.session.configure_stack(
            stack,
            str(plan.get("project", "")),
            {f"{plan.get('project', '')}:datacenter": json.dumps(plan.get("datacenter", {}), sort_keys=True)},
        )
        self.session.configure(config)
        run = PolicyRun(
            stack=stack,
            pack=self.info.name,
            levels={k: v[0] for k, v in config.items()},
            resources=len(resources.resources),
        )
        run.seconds["configure"] = time.perf_counter() - start
        start = time.perf_counter()
        requests = list(resources.analyze_requests())
        not_applicable: dict[tuple[str, str], None] = {}
        for request, response in zip(requests, self.session.analyze(requests), strict=True):
            run.violations.extend(_violations(response, request.urn, stack_level=False))
            for item in response.not_applicable:
                not_applicable[(item.policy_name, item.reason)] = None
        run.seconds["analyze"] = time.perf_counter() - start
        start = time.perf_counter()
        response = self.session.analyze_stack(resources.stack_request())
        run.seconds["analyze_stack"] = time.perf_counter() - start
        run.violations.extend(_violations(response, "", stack_level=True))
        for item in response.not_applicable:
            not_applicable[(item.policy_name, item.reason)] = None
        run.not_applicable = [PolicyNotApplicable(policy, reason) for policy, reason in not_applicable]
        return run


_kept: dict[Path, PolicyChecker] | None = None
"""Pack folder -> its running pack, in a process that keeps them (:func:`keep_packs_running`)."""


def keep_packs_running() -> None:
    """In a process that checks many stacks in turn (pr-check's workers): each pack is started once,
    by the first :func:`running_pack` of its folder, kept for the next, and closed when the process
    ends. A check is the same calls either way, and nothing of the previous stack is left in the pack:
    every check sends ConfigureStack and Configure with the whole config, which the pack's server
    replaces wholesale (pulumi_policy 1.21.0, the pin: ``policy.py``,
    ``_PolicyAnalyzerServicer.Configure`` and ``ConfigureStack``), and each Analyze or AnalyzeStack
    request carries all it judges. Only the start is saved: an interpreter, the SDK and the pack's
    imports, per stack."""
    global _kept
    if _kept is None:
        _kept = {}
        atexit.register(_close_kept)


def _close_kept() -> None:
    for checker in (_kept or {}).values():
        checker.__exit__()
    (_kept or {}).clear()


@contextlib.contextmanager
def running_pack(pack_dir: Path = PACK_DIR) -> Iterator[PolicyChecker]:
    """The pack of ``pack_dir``, running: started here and stopped after the block, or, where packs
    are kept (:func:`keep_packs_running`), the one kept running. A block that fails stops a kept pack
    too, so that the next check starts from a fresh one whatever state the failure left."""
    if _kept is None:
        with PolicyChecker(pack_dir) as checker:
            yield checker
        return
    key = pack_dir.resolve()
    if key not in _kept:
        _kept[key] = PolicyChecker(pack_dir).__enter__()
    try:
        yield _kept[key]
    except BaseException:
        _kept.pop(key).__exit__()
        raise


def format_run(run: PolicyRun) -> str:
    """The verdicts as a reviewer reads them: mandatory first, then advisory, then not applicable."""
    active = sum(1 for level in run.levels.values() if level != "disabled")
    verdict = "FAILED" if run.mandatory else "passed"
    lines = [
        f"policy pack {run.pack} on stack {run.stack}: {verdict} "
        f"({active} policies, {run.resources} resources, {len(run.mandatory)} mandatory and "
        f"{len(run.advisory)} advisory violations)"
    ]
    for violation in [*run.mandatory, *run.advisory]:
        lines.append(f"  {violation.level.upper():<9} {violation.policy}  [{violation.resource}]")
        lines.extend(f"      {line}" for line in violation.message.splitlines())
    for item in run.not_applicable:
        lines.append(f"  n/a       {item.policy}: {item.reason}")
    return "\n".join(lines)
