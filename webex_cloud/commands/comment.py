"""Assemble the one pull-request comment from every stack's CI outputs.

The workflow leaves, per stack, a folder ``<out>/<stack>/`` with ``<step>.txt`` (what the command
printed) and ``<step>.rc`` (its exit status) for the steps ``plan``, ``policy``, ``place`` and
``preview``, plus ``preview.md`` and ``preview.json`` from the report. This module turns them into one
Markdown body that starts with a hidden marker (how the workflow finds the comment again to edit it) and
ends with a digest of what would change (how it tells that a later push changed nothing).

``python -m webex_cloud.commands.comment OUT_DIR --commit SHA`` prints the body.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Iterable
from pathlib import Path

from webex_cloud.cli_common import entry, run
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
    ("place", "placement proof"),
    ("base-plan", "base plan"),
)
# GitHub refuses comments over 65,536 characters; each tool's output is cut to its tail well before.
_TAIL_LINES = 25
_TAIL_CHARS = 3000
_MAX_BODY = 65_000
PLACEMENT_PICTURE = "placement.svg"
"""Each stack folder's placement picture (``place --svg``), uploaded with the rest of the folder."""
UNCHANGED = "unchanged.txt"
"""In a stack folder: the stack's inputs are the base's, so it was not checked again (`pr-check
--changed-only`); the file says why."""
UNCHANGED_CELL = "⏸️ unchanged"


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


def digest(out_dir: Path, stacks: list[str]) -> str:
    """What would change, whatever the wording: every stack's risks, changes and step statuses."""
    material = []
    for stack in stacks:
        folder = out_dir / stack
        report = folder / "preview.json"
        data = json.loads(report.read_text()) if report.exists() else {}
        material.append(
            {
                "stack": stack,
                "status": {step: _status(folder, step) for step, _ in (*STEPS, ("preview", ""))},
                "blocking": data.get("blocking"),
                "warnings": data.get("warnings"),
                "changes": data.get("changes"),
                # Only when present, so that the digest of a check of every stack is as before.
                **({"unchanged": True} if (folder / UNCHANGED).exists() else {}),
            }
        )
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def build(out_dir: Path, commit: str) -> str:
    """The comment body for every stack folder found in ``out_dir``."""
    stacks = sorted(p.name for p in out_dir.iterdir() if p.is_dir())
    if not stacks:
        raise ValueError(f"{out_dir}: no stack folders (expected {out_dir}/<stack>/preview.md ...)")
    lines = [
        MARKER,
        f"## Release preview for `{commit[:12]}`",
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
        for step, title in STEPS:
            code = _status(folder, step)
            if code is None:
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
    closing = f"{DIGEST_PREFIX}{digest(out_dir, stacks)} -->\n"
    body = "\n".join(lines) + "\n"
    if len(body) + len(closing) > _MAX_BODY:
        # Never lose the marker or the digest: cut the middle, point at the artifacts.
        notice = (
            "\n\n… (comment cut at GitHub's size limit; the full reports are in the workflow artifacts)\n"
        )
        body = body[: _MAX_BODY - len(closing) - len(notice)] + notice
    return body + closing


def main(argv: list[str]) -> int:
    """The command; unusable input exits 2 and a bug 3, with a message, never a traceback."""
    return run("comment", _main, argv)


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
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
