"""Assemble the one pull-request comment from every stack's CI outputs.

The workflow leaves, per stack, a folder ``<out>/<stack>/`` with ``<step>.txt`` (what the command
printed) and ``<step>.rc`` (its exit status) for the steps ``plan``, ``policy``, ``place`` and
``preview``, plus ``preview.md`` and ``preview.json`` from the report, and ``alerts.md`` with the
alert changes (shown under the report; the ``alerts`` step's output only when it failed); and once,
beside them, ``images.rc``/``.txt``/``.json`` (the image catalog against the base's). This module turns
them into one Markdown body that starts with a hidden marker (how the workflow finds the comment again to
edit it) and a header naming the commit, and ends with the SHA-256 of the exact text between the two (how
it tells that a later push changed nothing, and how the poster, .github/workflows/pr-comment.yml, refuses
a body whose text is not the text that was digested: it recomputes the digest over what it is about to
post).

``python -m webex_cloud.commands.comment OUT_DIR --commit SHA`` prints the body.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webex_cloud.cli_common import ArgumentParser, entry, run
from webex_cloud.drift.published import Published, PublishedReportError, read_published
from webex_cloud.exit_codes import ExitCode
from webex_cloud.preview.markdown import code as md_code
from webex_cloud.preview.markdown import defuse_comments, fenced
from webex_cloud.preview.markdown import text as md_text

MARKER = "<!-- webex-cloud-preview -->"
SAME_AS_BEFORE = "<!-- webex-cloud-preview:same-as-before -->"
DIGEST_PREFIX = "<!-- webex-cloud-preview:digest "
STEPS = (
    ("plan", "offline plan"),
    ("policy", "policy check"),
    ("main-policy", "main's policy pack"),
    ("place", "placement proof"),
    ("base-plan", "base plan"),
)
# GitHub refuses comments over 65,536 characters; each tool's output is cut to its tail well before.
_TAIL_LINES = 25
_TAIL_CHARS = 3000
_MAX_BODY = 65_000
ALERTS_STEP = "alerts"
ALERTS_REPORT = "alerts.md"
"""Each stack folder's alert changes (pr-check's ``alerts`` step, docs/monitoring.md), shown as they are."""
IMAGES = "images"
"""The one fleet-wide step (``OUT/images.rc``, ``.txt``, ``.json``): the image catalog against the base's."""
DRIFT = "drift"
"""Each stack folder's ``drift.rc``/``.txt``: its latest drift report, checked (``pr-check --drift``)."""
DRIFT_REPORT = "drift.json"
"""The checked drift report itself, from which "this merge would also revert" is written."""
DRIFT_STALE = "drift-stale.txt"
"""Beside it when the report is older than pr-check's limit: why it may no longer stand for the cloud."""
POLICY_CHANGE = "policy-change.txt"
"""Written by pr-check beside the stack folders when the branch changes ``policies/``: one file a line."""
PLACEMENT_PICTURE = "placement.svg"
"""Each stack folder's placement picture (``place --svg``), uploaded with the rest of the folder."""
UNCHANGED = "unchanged.txt"
"""In a stack folder: the stack's inputs are the base's, so it was not checked again (`pr-check
--changed-only`); the file says why."""
UNCHANGED_CELL = "⏸️ unchanged"
CHANGED_ONLY = "changed-only.json"
"""Beside the stack folders when pr-check ran with ``--changed-only``: :class:`ChangedOnly`."""


@dataclass(frozen=True)
class ChangedOnly:
    """Which stacks ``pr-check --changed-only`` checked and why, which it left out as unchanged, and
    the base commit they were compared with (None: not named on the command line)."""

    base: str | None
    checked: Mapping[str, str]
    unchanged: tuple[str, ...]

    def dumps(self) -> str:
        record = {"base": self.base, "checked": dict(self.checked), "unchanged": list(self.unchanged)}
        return json.dumps(record, indent=2, sort_keys=True) + "\n"

    @classmethod
    def read(cls, path: Path) -> ChangedOnly:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            base, checked, unchanged = record["base"], record["checked"], record["unchanged"]
            if not (
                (base is None or isinstance(base, str))
                and isinstance(checked, dict)
                and all(isinstance(k, str) and isinstance(v, str) for k, v in checked.items())
                and isinstance(unchanged, list)
                and all(isinstance(stack, str) for stack in unchanged)
            ):
                raise TypeError("a field of the wrong type")
        except (OSError, ValueError, TypeError, KeyError) as error:
            raise ValueError(f"{path}: not a record pr-check --changed-only wrote ({error})") from error
        return cls(base=base, checked=checked, unchanged=tuple(unchanged))


def _changed_only_section(out_dir: Path) -> list[str]:
    """Under the table: which stacks were checked and why, which were not because their inputs are
    the base's, and against which base commit (webex_cloud.preview.changed_stacks)."""
    path = out_dir / CHANGED_ONLY
    if not path.exists():
        return []
    record = ChangedOnly.read(path)
    against = f"the base commit {md_code(record.base[:12])}" if record.base else "the base checkout"
    lines = [
        f"**Only the stacks this pull request can change were checked**, compared file by file with "
        f"{against}: a stack whose stack file, catalog files and code are the base's renders the "
        "base's plan, so it is not checked again. Any change to the code, the policy pack, the "
        "requirements and locks or the workflows checks every stack.",
        "",
    ]
    reasons: dict[str, list[str]] = {}
    for stack, why in record.checked.items():
        reasons.setdefault(why, []).append(stack)
    lines += [
        f"- checked because {md_text(why)}: " + ", ".join(md_code(s) for s in sorted(stacks))
        for why, stacks in sorted(reasons.items(), key=lambda item: sorted(item[1]))
    ] or ["- checked: none (no input of any stack changed)"]
    if record.unchanged:
        shown = ", ".join(md_code(s) for s in sorted(record.unchanged))
        lines.append(f"- not checked, the same inputs as the base: {shown}")
    return [*lines, ""]


def comment_line(files: Iterable[str]) -> str:
    """The pull-request comment's line naming each stack's placement picture in the workflow's
    ``pr-check`` artifact (a comment cannot embed an SVG that is not hosted somewhere)."""
    listed = sorted(files)
    if not listed:
        return ""
    return "Placement pictures (SVG) in this run's `pr-check` artifact: " + " · ".join(
        f"`{f}`" for f in listed
    )


def _status(folder: Path, step: str) -> int | None:
    """The step's exit status, or None when it did not run (an earlier step failed, or no such step)."""
    rc = folder / f"{step}.rc"
    if not rc.exists():
        return None
    text = rc.read_text().strip()
    return int(text) if text.lstrip("-").isdigit() else None


def _tail(path: Path) -> str:
    if not path.exists():
        return "(no output)"
    lines = path.read_text(errors="replace").rstrip().splitlines()
    kept = "\n".join(lines[-_TAIL_LINES:])[-_TAIL_CHARS:]
    cut = len(lines) > _TAIL_LINES or len(kept) < len("\n".join(lines[-_TAIL_LINES:]))
    return ("… (cut; the full output is in the job log)\n" if cut else "") + kept


def _cell(code: int | None) -> str:
    if code is None:
        return "⏭️ not run"
    return "✅" if code == 0 else f"❌ exit {code}"


def _preview_cell(folder: Path) -> str:
    report = folder / "preview.json"
    code = _status(folder, "preview")
    if code is None or not report.exists() or code not in (ExitCode.OK, ExitCode.BLOCKING):
        # No report, or no verdict (a failed preview, unusable input, a crash): never green.
        data = json.loads(report.read_text()) if report.exists() and code is not None else {}
        if data.get("verdict") == "failed":
            return f"❌ preview failed (exit {code})"
        return _cell(code)
    data = json.loads(report.read_text())
    if data["blocking"]:
        return f"🛑 {len(data['blocking'])} blocking"
    changed = sum(data["counts"].values())
    warnings = (
        f", ⚠️ {len(data['warnings'])} warning{'s' if len(data['warnings']) != 1 else ''}"
        if data["warnings"]
        else ""
    )
    return (f"✅ {changed} change{'s' if changed != 1 else ''}" if changed else "✅ no changes") + warnings


def _alerts(folder: Path) -> str | None:
    report = folder / ALERTS_REPORT
    return report.read_text(encoding="utf-8") if report.exists() else None


def _images_report(out_dir: Path) -> dict[str, Any]:
    report = out_dir / f"{IMAGES}.json"
    try:
        document = json.loads(report.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


def _image_changes(document: dict[str, Any]) -> list[dict[str, Any]]:
    changes = document.get("catalog_changes")
    return [c for c in changes if isinstance(c, dict)] if isinstance(changes, list) else []


def _glance_imports(document: dict[str, Any]) -> str | None:
    """Per datacenter, what its Glance imports (webex_cloud/images/changes.py ``imports_record``)."""
    imports = document.get("catalog_imports")
    if not isinstance(imports, dict) or not imports:
        return None
    shown: list[str] = []
    for stack, found in sorted(imports.items()):
        if not isinstance(found, dict) or not isinstance(found.get("images"), list):
            continue
        count = len(found["images"])
        unpinned = found.get("unpinned") if isinstance(found.get("unpinned"), list) else []
        more = f", {len(unpinned)} of a size not pinned" if unpinned else ""
        shown.append(
            f"{md_code(str(stack))} {_gib(found.get('size_bytes'))} "
            f"({count} image{'s' if count != 1 else ''}{more})"
        )
    return f"Each datacenter's Glance imports (web-download): {'; '.join(shown)}." if shown else None


def _gib(size: object) -> str:
    return f"{size / 2**30:.2f} GiB" if isinstance(size, int) else "size not pinned"


def _images_section(out_dir: Path) -> list[str]:
    """What the pull request changes in the image catalog (``images --offline --base``)."""
    code = _status(out_dir, IMAGES)
    if code is None:
        return []
    document = _images_report(out_dir)
    changes = _image_changes(document)
    blocking = [c for c in changes if c.get("blocking")]
    if code not in (ExitCode.OK, ExitCode.BLOCKING):
        head = f"❌ exit {code}: the image catalog cannot be used"
    elif blocking:
        head = f"🛑 {len(blocking)} image name{'s' if len(blocking) != 1 else ''} kept for other bytes"
    else:
        head = (
            f"✅ {len(changes)} image change{'s' if len(changes) != 1 else ''}"
            if changes
            else "✅ no changes"
        )
    lines = [f"### Images — {head}", ""]
    if changes:
        lines += ["| image | change | size | booted by |", "|---|---|---|---|"]
        for change in changes:
            used = change.get("used_by")
            used = used if isinstance(used, dict) else {}
            where = "; ".join(
                f"{md_code(str(stack))}: {', '.join(md_text(str(s)) for s in services)}"
                for stack, services in sorted(used.items())
                if isinstance(services, list)
            )
            kind = str(change.get("change"))
            shown = (
                f"🛑 {md_text(kind)}: a new build needs a new name"
                if change.get("blocking")
                else md_text(kind)
            )
            lines.append(
                f"| {md_code(str(change.get('name')))} | {shown} | {_gib(change.get('size_bytes'))} | "
                f"{where or 'no pod'} |"
            )
        lines.append("")
        imports = _glance_imports(document)
        if imports is not None:
            lines += [imports, ""]
    if code not in (ExitCode.OK, ExitCode.BLOCKING):
        lines += [*fenced(_tail(out_dir / f"{IMAGES}.txt")), ""]
    return lines


def _undone(folder: Path, stack: str) -> Published | None:
    report = folder / DRIFT_REPORT
    if _status(folder, DRIFT) != ExitCode.OK or not report.exists():
        return None
    try:
        return read_published(report, stack)
    except PublishedReportError:
        return None


def _short(value: object) -> str:
    shown = json.dumps(value, sort_keys=True, default=str)
    return shown if len(shown) <= 60 else shown[:57] + "…"


def _revert_section(folder: Path, stack: str) -> list[str]:
    """ "This merge would also revert": the out-of-band changes the next ``up`` undoes (docs/drift.md)."""
    code = _status(folder, DRIFT)
    if code is None:
        return []
    title = f"#### {md_code(stack)}: this merge would also revert"
    published = _undone(folder, stack)
    if published is None:
        return [title, "", *fenced(_tail(folder / f"{DRIFT}.txt")), ""]
    checked = published.sources.get("checkpoint", "")
    written = f"written {published.generated:%Y-%m-%d %H:%M} UTC, " if published.generated else ""
    lines = [
        title,
        "",
        f"From the latest drift report of {md_code(stack)} ({written}checkpoint {md_code(checked)}).",
        "",
    ]
    if (folder / DRIFT_STALE).exists():
        stale = (folder / DRIFT_STALE).read_text(encoding="utf-8").strip()
        lines += [
            f"> **Stale:** {md_text(stale)}; what it lists below may no longer be what `up` undoes.",
            "",
        ]
    if not published.undone:
        lines += ["Nothing: no out-of-band change that `up` would undo.", ""]
    else:
        lines += [
            "Deploying this merge runs `up`, which undoes these changes made outside Pulumi:",
            "",
            "| resource | change | recorded → live | `up` | acknowledged |",
            "|---|---|---|---|---|",
        ]
        for item in published.undone:
            where = f"{md_code(item.name)}" + (f" {md_code(item.field)}" if item.field else "")
            values = f"{md_code(_short(item.recorded))} → {md_code(_short(item.observed))}"
            acked = md_text(item.acknowledged) if item.acknowledged else "no"
            lines.append(f"| {where} | {md_text(item.kind)} | {values} | {md_text(item.up)} | {acked} |")
        lines.append("")
    return [*lines, *_unrepaired(published)]


def _unrepaired(published: Published) -> list[str]:
    """The broken rules `up` leaves as they are (a pod split by a forced move), with cause and fix."""
    if not published.unrepaired:
        return []
    lines = [
        "Broken out of band, and left so by `up` (no input of the program changed):",
        "",
        "| what | broken | cause | fix | acknowledged |",
        "|---|---|---|---|---|",
    ]
    for item in published.unrepaired:
        acked = md_text(item.acknowledged) if item.acknowledged else "no"
        cells = [md_text(x) if x else "—" for x in (item.message, item.cause, item.fix)]
        lines.append(f"| {md_code(item.name)} {md_code(item.field)} | {' | '.join(cells)} | {acked} |")
    return [*lines, ""]


def digest(text: str) -> str:
    """The SHA-256 of the report's text exactly as posted below its header line, the one same-as-before
    slot included as this module writes it. The header (the commit) is left out so that a push that
    renders the same report gets the same digest; the poster checks the header against the run's
    commit instead."""
    return hashlib.sha256(text.encode()).hexdigest()


def digest_of(body: str) -> str:
    """The digest a body built here ends with."""
    return body.rsplit(DIGEST_PREFIX, 1)[1][:64]


def header(commit: str) -> str:
    """The marker and the line naming the commit: the part of the body the digest does not cover."""
    return f"{MARKER}\n## Release preview for `{commit[:12]}`\n"


def build(out_dir: Path, commit: str) -> str:
    """The comment body for every stack folder found in ``out_dir``."""
    stacks = sorted(p.name for p in out_dir.iterdir() if p.is_dir())
    if not stacks:
        raise ValueError(f"{out_dir}: no stack folders (expected {out_dir}/<stack>/preview.md ...)")
    lines = [
        "",
        "| stack | " + " | ".join(title for _, title in STEPS) + " | preview |",
        "|---|" + "---|" * (len(STEPS) + 1),
    ]
    for stack in stacks:
        folder = out_dir / stack
        if (folder / UNCHANGED).exists():
            cells = [UNCHANGED_CELL] * len(STEPS) + ["✅ unchanged since the base"]
        else:
            cells = [_cell(_status(folder, step)) for step, _ in STEPS] + [_preview_cell(folder)]
        lines.append(f"| {md_code(stack)} | " + " | ".join(cells) + " |")
    lines += ["", SAME_AS_BEFORE, ""]
    lines += _changed_only_section(out_dir)
    if (out_dir / POLICY_CHANGE).is_file():
        changed = (out_dir / POLICY_CHANGE).read_text(encoding="utf-8").split()
        lines += [
            "> **This pull request changes the policy pack** ("
            + ", ".join(md_code(name) for name in changed)
            + "). Every stack was judged by main's pack as well (the column above), so a weakened or "
            "deleted rule still blocks here; the change itself needs a code owner's review "
            "(`.github/CODEOWNERS` on `/policies/`).",
            "",
        ]
    lines += _images_section(out_dir)
    pictures = comment_line(
        f"{s}/{PLACEMENT_PICTURE}" for s in stacks if (out_dir / s / PLACEMENT_PICTURE).exists()
    )
    if pictures:
        lines += [pictures, ""]
    for stack in stacks:
        folder = out_dir / stack
        report = folder / "preview.md"
        if (folder / UNCHANGED).exists():
            lines += [
                f"### Stack {md_code(stack)} — unchanged",
                "",
                md_text((folder / UNCHANGED).read_text().strip()),
                "",
                *_revert_section(folder, stack),
            ]
            continue
        if report.exists():
            # The report escapes what users control; defusing HTML comments keeps every marker ours.
            lines.append(defuse_comments(report.read_text().rstrip()))
        else:
            unusable = _status(folder, "base-plan") == ExitCode.INPUT
            lines += [
                f"### Stack {md_code(stack)} — {'base unusable' if unusable else 'no preview report'}",
                "",
                "**Base unusable**: the base commit's plan could not be rendered, so there is nothing to "
                "diff against (never an empty base); see the base plan's output below."
                if unusable
                else "The report could not be produced; see the step outputs below.",
                "",
            ]
            if (folder / "preview.txt").exists():
                lines += fenced(_tail(folder / "preview.txt"))
        alerts = _alerts(folder)
        if alerts is not None:
            # Generated with every name and expression as inline code (monitoring_ops/diff.py).
            lines += ["", defuse_comments(alerts.rstrip())]
        lines += _revert_section(folder, stack)
        for step, title in (*STEPS, (ALERTS_STEP, "alert changes")):
            code = _status(folder, step)
            # The alert changes are shown above; their step's output only when it failed.
            if code is None or (step == ALERTS_STEP and code == ExitCode.OK):
                continue
            lines += [
                "",
                f"<details><summary>{md_text(stack)}: {title} — {_cell(code)}</summary>",
                "",
                *fenced(_tail(folder / f"{step}.txt")),
                "",
                "</details>",
            ]
        lines.append("")
    head, text = header(commit), "\n".join(lines) + "\n"
    closing_size = len(DIGEST_PREFIX) + 64 + len(" -->\n")
    if len(head) + len(text) + closing_size > _MAX_BODY:
        # Never lose the marker or the digest: cut the middle, point at the artifacts.
        notice = (
            "\n\n… (comment cut at GitHub's size limit; the full reports are in the workflow artifacts)\n"
        )
        text = text[: _MAX_BODY - len(head) - closing_size - len(notice)] + notice
    # Digested last, over the text as it is posted: escaped, cut, every byte the reader sees.
    return f"{head}{text}{DIGEST_PREFIX}{digest(text)} -->\n"


def main(argv: list[str]) -> int:
    """The command; unusable input exits 2 and a bug 3, with a message, never a traceback."""
    return run("comment", _main, argv)


def _main(argv: list[str]) -> int:
    parser = ArgumentParser(
        prog="python -m webex_cloud comment",
        description="Assemble the pull-request comment from the CI outputs.",
    )
    parser.add_argument("out_dir", type=Path, help="folder with one sub-folder per stack")
    parser.add_argument("--commit", required=True, help="the pull request's head commit")
    args = parser.parse_args(argv)
    try:
        body = build(args.out_dir, args.commit)
    except (OSError, ValueError, json.JSONDecodeError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.INPUT
    sys.stdout.write(body)
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(entry(main, sys.argv[1:]))
