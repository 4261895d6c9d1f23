"""One hold pull request per release: every stack's rollback of one commit merged into one holds file.

Each stack whose deploy of a commit failed and rolled back hands over what it held
(:class:`~webex_cloud.config.holds.StackHolds`, the `hold-<stack>` artifact of its job); one job after
the waves merges them here, with main's holds (as main is when the job runs: a hold merged since the
release counts) and, when an earlier attempt of the same run already opened it, the hold branch's file
(``hold/<commit>``, started from main's head). The rule:

- a service already held on main keeps main's hold, unchanged: it was reviewed and merged, and the
  loader already plans its held text (the stack is listed in the pull request, nothing is written);
- a service held by one stack only gets that stack's hold;
- a service held by several stacks gets one hold, the first stack's (the earliest rollback, then the
  stack's name); the others are listed in its ``also`` with their reasons. A stack whose last good text
  differs says so there: the one hold plans the first stack's text everywhere;
- merging the same records again changes nothing (a re-run updates the same pull request, and a hold
  keeps its first ``since``).

Pure: no file, no network; the command `python -m webex_cloud hold-request` does the reading and writing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from webex_cloud.config.holds import HOLDS_FILE, Hold, StackHolds

CHECK_NOTE = (
    "**Before merging, start this pull request's check:** it was opened with the deploy run's "
    "`GITHUB_TOKEN`, and GitHub starts no workflow for an event that token causes (only "
    "`workflow_dispatch` and `repository_dispatch` are exempt), so its `pull-request check` "
    "(pr-preview.yml) has not run. "
    "Close and reopen this pull request (or push a commit to its branch): that event is yours and "
    "starts the check. The branch is updated by later failures of this release, which start no check "
    "either: close and reopen again after such an update."
)
"""https://docs.github.com/actions/concepts/security/github_token ("When GITHUB_TOKEN triggers
workflow runs"): events the GITHUB_TOKEN causes, but workflow_dispatch and repository_dispatch, create
no run."""


class HoldRecordError(ValueError):
    """A stack's hold record that cannot belong to this release's pull request."""


@dataclass(frozen=True)
class Merged:
    holds: dict[str, Hold]
    """The holds file of the hold branch."""
    on_main: dict[str, tuple[str, ...]]
    """Services already held on main -> the stacks that rolled them back again (main's hold stands)."""
    stacks: tuple[str, ...]
    """Every stack that rolled back this release: the records' and the branch's."""


def _first(record: StackHolds) -> tuple[str, str]:
    return (min((hold.since for hold in record.holds.values()), default=""), record.stack)


def merge_holds(
    commit: str, main: Mapping[str, Hold], branch: Mapping[str, Hold] | None, records: Sequence[StackHolds]
) -> Merged:
    """The release's holds: ``branch`` (or ``main`` when there is no hold branch yet) with the records'.

    Raises HoldRecordError for a record of another commit (each release has its own pull request).
    """
    foreign = sorted(record.stack for record in records if record.commit != commit)
    if foreign:
        raise HoldRecordError(
            f"hold record(s) of {', '.join(foreign)} name another commit than {commit}: one hold pull "
            "request per release; rerun the deploy of that commit to open its own"
        )
    merged = dict(main if branch is None else branch)
    on_main: dict[str, list[str]] = {}
    for record in sorted(records, key=_first):
        for service, hold in sorted(record.holds.items()):
            if service in main:
                on_main.setdefault(service, []).append(record.stack)
                continue
            current = merged.get(service)
            if current is None:
                merged[service] = hold
            elif current.stack != record.stack and record.stack not in current.also:
                reason = hold.reason
                if hold.held != current.held:
                    reason += (
                        f" (its last good text was {hold.held}, from {hold.last_good_commit[:12]}; "
                        f"this hold plans {current.stack}'s)"
                    )
                merged[service] = current.model_copy(update={"also": {**current.also, record.stack: reason}})
    stacks = {record.stack for record in records}
    stacks.update(hold.stack for service, hold in merged.items() if service not in main)
    stacks.update(stack for service, hold in merged.items() if service not in main for stack in hold.also)
    return Merged(
        merged,
        {service: tuple(sorted(set(names))) for service, names in sorted(on_main.items())},
        tuple(sorted(stacks)),
    )


def new_holds(main: Mapping[str, Hold], merged: Merged) -> dict[str, Hold]:
    """The holds the pull request adds to main (none: there is nothing to open)."""
    return {service: hold for service, hold in sorted(merged.holds.items()) if service not in main}


def title(commit: str, added: Mapping[str, Hold]) -> str:
    return f"Hold {', '.join(sorted(added))} at the last good release: {commit[:12]} rolled back"


def body(
    commit: str, main: Mapping[str, Hold], merged: Merged, records: Sequence[StackHolds], run_url: str
) -> str:
    """The pull request's text: every stack that rolled back, every held service, what to do."""
    added = new_holds(main, merged)
    held_by: dict[str, list[str]] = {stack: [] for stack in merged.stacks}
    for service, hold in added.items():
        for stack in (hold.stack, *hold.also):
            held_by[stack].append(f"`{service}`")
    for service, stacks in merged.on_main.items():
        for stack in stacks:
            held_by[stack].append(f"`{service}` (already held on main)")
    lines = [
        f"The deploy of `{commit}` failed and was rolled back automatically to each stack's last good "
        f"deploy in {len(merged.stacks)} stack(s): {', '.join(f'`{s}`' for s in merged.stacks)} "
        f"([run]({run_url})). Merge this pull request so that the repository stops naming the release "
        f"that failed: it adds the holds below to `{HOLDS_FILE}`. Then fix the release and remove each "
        "hold in the pull request that fixes it (docs/releasing.md section 6).",
        "",
        CHECK_NOTE,
        "",
        "## Held services",
        "",
    ]
    for service, hold in added.items():
        lines += [
            f"### `{service}`",
            "",
            f"- refused text: `{hold.refused}` (its catalog file at `{hold.commit[:12]}`, the release "
            "that failed; while the hold stands, the held text is planned in its place)",
            f"- held text: `{hold.held}` (the last good deploy, `{hold.last_good_commit[:12]}`)",
            f"- rolled back in `{hold.stack}` at {hold.since}: {hold.reason}",
        ]
        lines += [f"- rolled back in `{stack}` too: {reason}" for stack, reason in sorted(hold.also.items())]
        lines.append("")
    lines += ["## Stacks rolled back", ""]
    recorded = {record.stack for record in records}
    for stack in merged.stacks:
        services = ", ".join(held_by[stack]) or "nothing (it changed no catalog file)"
        seen = "" if stack in recorded else " (an earlier attempt of this run)"
        lines.append(f"- `{stack}`{seen}: held {services}")
    if merged.on_main:
        lines += [
            "",
            "Already held on main, left as merged: "
            + ", ".join(f"`{service}`" for service in merged.on_main)
            + ".",
        ]
    return "\n".join(lines) + "\n"
