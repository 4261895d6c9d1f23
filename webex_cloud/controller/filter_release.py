"""The filter release the controllers run: the reproducible wheel, the rendered scheduler fragments and
the deploy script, each with the sha256 that triggers a rollout when (and only when) it changes.

Built by the program (``__main__.py``) and shown by ``python -m webex_cloud filter-release``
(webex_cloud/commands/filter_release.py)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from webex_scheduler_filters import render

from webex_cloud.controller.fragments import render_fragments
from webex_cloud.controller.wheel import BuiltWheel, WheelBuildError, build_wheel
from webex_cloud.paths import BUILD_DIR, FILTERS_SOURCE_DIR, PROJECT_DIR

FILTERS_SOURCE = FILTERS_SOURCE_DIR
"""The scheduler-filter distribution (its own pyproject.toml)."""
WHEEL_DIR = BUILD_DIR / "controller"
"""Where the wheel is written; ``pulumi up`` copies it from there."""
DEPLOY_SCRIPT = Path(__file__).resolve().parent / "remote" / "rolling_deploy.py"
"""The per-controller procedure, copied to each controller and run there."""


@dataclass(frozen=True)
class FilterRelease:
    wheel: BuiltWheel
    """The filter wheel; its sha256 is the main rollout trigger."""
    fragments: Mapping[str, str]
    """Scheduler config fragments by name (``nova``, ``cinder``)."""
    deploy_script: Path
    """The deploy script copied to the controllers."""

    def fragment_sha256(self, name: str) -> str:
        return hashlib.sha256(self.fragments[name].encode("utf-8")).hexdigest()

    @property
    def deploy_script_sha256(self) -> str:
        return hashlib.sha256(self.deploy_script.read_bytes()).hexdigest()

    @property
    def release_id(self) -> str:
        """Short name of this exact release: wheel, fragments and script together."""
        parts = [self.wheel.sha256, self.deploy_script_sha256]
        parts += [f"{name}={self.fragment_sha256(name)}" for name in sorted(self.fragments)]
        return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:16]


def project_relative(path: Path) -> str:
    """``path`` relative to the project folder when inside it (the Pulumi CLI runs the program there),
    so that plans and asset paths do not depend on where the checkout lives."""
    try:
        return path.relative_to(PROJECT_DIR).as_posix()
    except ValueError:
        return str(path)


class ReleaseBuildError(Exception):
    """The filter release cannot be built; the message says which file is at fault and that nothing
    was deployed (the program builds the release before it registers any resource)."""


def build_release(
    source: Path | None = None,
    wheel_dir: Path | None = None,
    nova_filters: Sequence[str] = render.NOVA_DEFAULT_FILTERS,
    cinder_filters: Sequence[str] = render.CINDER_DEFAULT_FILTERS,
    failure_domains: Mapping[str, Sequence[str]] | None = None,
) -> FilterRelease:
    """Build the wheel from ``source`` (default: :data:`FILTERS_SOURCE`) into ``wheel_dir`` (default:
    :data:`WHEEL_DIR`) and render the fragments; deterministic for a given source.

    Raises ReleaseBuildError (never a bare WheelBuildError or OSError) when the source cannot be built
    or the wheel cannot be written.
    """
    source = FILTERS_SOURCE if source is None else source
    wheel_dir = WHEEL_DIR if wheel_dir is None else wheel_dir
    try:
        wheel = build_wheel(source, wheel_dir)
    except WheelBuildError as error:
        raise ReleaseBuildError(_explain(str(error))) from error
    except (OSError, UnicodeDecodeError) as error:
        problem = f"{project_relative(source)}: cannot build the wheel: {error}"
        raise ReleaseBuildError(_explain(problem)) from error
    return FilterRelease(
        wheel=wheel,
        fragments=render_fragments(nova_filters, cinder_filters, failure_domains),
        deploy_script=DEPLOY_SCRIPT,
    )


def _explain(problem: str) -> str:
    return f"the scheduler-filter release could not be built, nothing was registered or changed: {problem}"
