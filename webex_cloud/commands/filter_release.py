"""`python -m webex_cloud filter-release`: the scheduler-filter release this checkout rolls out to the
controllers (webex_cloud/controller/filter_release.py builds it), with the hashes the plan triggers on."""

from __future__ import annotations

import sys

from webex_cloud.cli_common import ArgumentParser, entry, run
from webex_cloud.controller.filter_release import ReleaseBuildError, build_release, project_relative
from webex_cloud.exit_codes import ExitCode


def main(argv: list[str]) -> int:
    """The command; unusable input exits 2 and a bug 3, with a message, never a traceback."""
    return run("filter-release", _main, argv)


def _main(argv: list[str]) -> int:
    """Print what a rollout from this checkout would carry (the hashes the plan uses as triggers)."""
    ArgumentParser(
        prog="python -m webex_cloud filter-release",
        description="Build the scheduler-filter release of this checkout and print its wheel, config "
        "fragments and deploy script with their hashes (what the plan's rollout triggers on).",
    ).parse_args(argv)
    try:
        release = build_release()
    except ReleaseBuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.INPUT
    print(f"filter release {release.release_id}")
    print(f"  wheel   {project_relative(release.wheel.path)}  sha256 {release.wheel.sha256}")
    for name in sorted(release.fragments):
        print(f"  {name:<7} fragment  sha256 {release.fragment_sha256(name)}")
    print(f"  script  {project_relative(release.deploy_script)}  sha256 {release.deploy_script_sha256}")
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(entry(main, sys.argv[1:]))
