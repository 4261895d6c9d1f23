"""`python -m webex_cloud images --stack dc1`: are the images every pod boots verified in the datacenter?

Offline first (always): the image catalog (catalog/images/images.yaml: per image a name, source URL,
sha256, formats, minimums, optional signature and the image it replaces) is well formed, its sources are
http(s) URLs on an artifact host (never link-local, metadata or management addresses), and every image a
stack offers or boots is in it. With --base (the catalog of the branch a pull request targets), a name
whose bytes changed is blocking: a new image needs a new name. --offline stops there.

Then, per stack, its Glance is read as the stack's read-only identity (``identities.reader``; GET only,
a token that could write is refused): each image a pod or the controllers boot must resolve by name to
exactly one active Glance image whose own digest of the stored bytes (``os_hash_value``) is the catalog's,
with the catalog's formats, minimums and signature properties. The verified ids, and what a rollback would
boot (each image's ``previous``), are written to build/images/<stack>.json. The deploy workflow runs this
before any preview or ``pulumi up`` of the stack: a pod whose image is not verified never changes.

With --state (the state backend, where each stack's last good deploy is recorded), promotion: a stack
outside wave 1 is refused every image the canary's (wave 1's) last good deploy did not boot with the same
bytes; the deploy passes it before it imports anything, so an image reaches a later wave's Glance only
after the canary ran it.

--before-import is that deploy check, run before the stack's targeted import: an image that is not in the
datacenter's Glance at all is reported as to import (the import creates it) and does not block; any other
finding (other bytes, not active, an ambiguous name, not run in the canary) blocks, since importing would
not cure it (a second image of the same name would only make the name ambiguous).

--cleanup-after DAYS reports instead, per stack, the project's Glance images that may go: no catalog
entry names them or pins their bytes, no instance boots them (read live), the stack's last record
(build/images/<stack>.json: its images and their rollback images) does not hold them, no stack's last good
deploy (with --state) names them or pins their bytes, they are not protected, not Nova's snapshots, the
project's own, and older than DAYS. It deletes nothing and exits 0. With --delete (one stack, the operator
identity, --state required) each candidate is read again from Glance and Nova immediately before it is
deleted, and kept if anything keeps it now; the report says what was deleted and what was kept and why.

Exit status: 0 every image verified (--before-import: or only absent; cleanup: done), 1 a blocking
finding (an image missing, not active, other bytes, an ambiguous name, a name reused for other bytes, not
run in the canary), 2 the catalog, a stack file, a record or the cloud cannot be used (nothing is
deleted; a failure during deletion stops it, after reporting what was deleted), 3 an internal error.
Every API call has a timeout (--timeout).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from webex_cloud.atomic import write_text
from webex_cloud.cli_common import (
    ArgumentParser,
    CommandError,
    add_cloud_options,
    add_stack_option,
    select_stacks,
)
from webex_cloud.cli_common import run as cli_run
from webex_cloud.cloud.access import Access
from webex_cloud.cloud.entry import stack_entry
from webex_cloud.cloud.errors import CloudError
from webex_cloud.cloud.images import GlanceImage, delete_image, read_image, read_images
from webex_cloud.cloud.session import Session, connect
from webex_cloud.cloud.views import parse_server, read_servers, servers_booting
from webex_cloud.config.errors import CatalogError
from webex_cloud.config.image_catalog import ImageCatalog, load_catalog, parse_catalog
from webex_cloud.config.image_ids import image_roles
from webex_cloud.config.yaml_source import read_yaml
from webex_cloud.exit_codes import ExitCode
from webex_cloud.images.changes import image_changes, imports_record, to_records
from webex_cloud.images.changes import to_text as changes_text
from webex_cloud.images.cleanup import (
    Candidate,
    Keep,
    Outcome,
    catalog_pins,
    delete_candidates,
    deletion_text,
    judge,
    stopped,
)
from webex_cloud.images.cleanup import to_text as cleanup_text
from webex_cloud.images.promotion import CanaryRun, promotion_problems
from webex_cloud.images.record import FORMAT, stack_record, to_json, to_text
from webex_cloud.images.usage import StackImages, load_stack_images
from webex_cloud.images.verify import StackVerdict, judge_stack
from webex_cloud.paths import BUILD_DIR, PROJECT_DIR, known_stacks
from webex_cloud.rollback import store
from webex_cloud.rollback.images import booted, offered, recorded_catalog
from webex_cloud.rollback.last_good import LastGood, LastGoodError, NoRecord
from webex_cloud.stacks.waves import load_stacks

RECORD_DIR = BUILD_DIR / "images"


def days(text: str) -> int:
    """An argparse type: a whole number of days, at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of days (1 or more)")
    return int(text)


class InputError(Exception):
    """Unusable input (exit 2): the message names the file or option and the fix."""


def offline(
    project: Path, stacks: list[str], base: Path | None
) -> tuple[ImageCatalog, list[StackImages], ImageCatalog | None]:
    try:
        images = [load_stack_images(project, stack) for stack in stacks]
        catalog = load_catalog(project, [s.management for s in images])
        base_catalog: ImageCatalog | None = None
        if base is not None:
            if not base.is_file():
                raise InputError(f"{base}: no such file (--base: the image catalog of the target branch)")
            base_catalog = parse_catalog(read_yaml(base, str(base)), str(base))
    except CatalogError as error:
        raise InputError(error.render()) from None
    return catalog, images, base_catalog


def verify(
    args: argparse.Namespace, catalog: ImageCatalog, images: StackImages
) -> tuple[StackVerdict, dict[str, Any]]:
    cloud = args.cloud or stack_entry(images.stack, Access.READ, args.project)
    names = image_roles(images.used, catalog).every
    glance: dict[str, tuple[GlanceImage, ...]] = {}
    with connect(cloud, Access.READ, args.clouds_yaml, args.timeout) as session:
        for name in sorted(names):
            glance[name] = read_images(session, name)
    verdict = judge_stack(images.stack, catalog, images.used, glance)
    record = stack_record(verdict, {"cloud": cloud, "catalog": catalog.file})
    write_text(args.record_dir / f"{images.stack}.json", json.dumps(record, indent=2, sort_keys=True) + "\n")
    return verdict, record


def recorded_ids(path: Path) -> set[str]:
    """The Glance ids a stack's last verification record keeps (its images and their rollback images)."""
    if not path.exists():
        return set()
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        kept = [*record["images"], *record["rollback"].values()]
        return {str(image["id"]) for image in kept if image.get("id")}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise InputError(
            f"{path}: not a verification record ({type(error).__name__}: {error}); run `images --stack` "
            "again, or pass --record-dir with the stack's record"
        ) from None


def last_good_records(state: str, stacks: list[str]) -> dict[str, LastGood | None]:
    """Each stack's last good deploy (None: it has none yet). A record that cannot be read or used is
    unusable input: nothing may be judged (or deleted) without it."""
    found: dict[str, LastGood | None] = {}
    for stack in stacks:
        try:
            found[stack] = store.get(state, stack)
        except NoRecord:
            found[stack] = None
        except LastGoodError as error:
            raise InputError(
                f"{error}; check --state and the state backend's credentials, or, for a broken record, "
                "deploy that stack again (its job records it: python -m webex_cloud last-good)"
            ) from None
    return found


def last_good_pins(records: dict[str, LastGood | None]) -> tuple[dict[str, str], dict[str, str]]:
    """Names and digests every last good deploy keeps: its whole image catalog (what it booted and
    what its rollback images are) and its stack file's offered images."""
    names: dict[str, str] = {}
    digests: dict[str, str] = {}
    try:
        for stack, record in sorted(records.items()):
            if record is None:
                continue
            why = f"{stack}'s last good deploy (commit {record.commit[:12]})"
            catalog = recorded_catalog(record)
            if catalog is not None:
                more_names, more_digests = catalog_pins(catalog, why)
                names.update({k: v for k, v in more_names.items() if k not in names})
                digests.update({k: v for k, v in more_digests.items() if k not in digests})
            names.update({name: why for name in offered(record) if name not in names})
    except LastGoodError as error:
        raise InputError(str(error)) from None
    return names, digests


class GlanceAndNova:
    """What the deletion reads and deletes through (webex_cloud/cloud/: the one owner of requests)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def image(self, image_id: str) -> GlanceImage | None:
        return read_image(self.session, image_id)

    def booting(self, image_id: str) -> list[str]:
        return [f"server {s.name or s.id} ({s.id})" for s in servers_booting(self.session, image_id)]

    def delete(self, image_id: str) -> bool:
        return delete_image(self.session, image_id)


@dataclass(frozen=True)
class CleanupReport:
    stack: str
    candidates: list[Candidate]
    kept: dict[str, str]
    names: dict[str, str]
    outcomes: list[Outcome] | None
    """What --delete did with each candidate; None for a report."""


def cleanup(
    args: argparse.Namespace, stack: str, pins: tuple[dict[str, str], dict[str, str]]
) -> CleanupReport:
    """``pins``: the names and digests the catalog and the last good deploys keep."""
    access = Access.OPERATE if args.delete else Access.READ
    cloud = args.cloud or stack_entry(stack, access, args.project)
    names, digests = pins
    record = args.record_dir / f"{stack}.json"
    ids = {i: f"held by the verification record {record}" for i in recorded_ids(record)}
    with connect(cloud, access, args.clouds_yaml, args.timeout) as session:
        images = read_images(session)
        servers = [parse_server(raw) for raw in read_servers(session)]
        for server in servers:
            if server.image_id:
                ids.setdefault(server.image_id, f"booted by server {server.name or server.id} ({server.id})")
        keep = Keep(
            project=session.project_id,
            now=datetime.now(UTC),
            min_age=timedelta(days=args.cleanup_after),
            names=names,
            digests=digests,
            ids=ids,
        )
        candidates, kept = judge(images, keep)
        outcomes = delete_candidates(candidates, GlanceAndNova(session), keep) if args.delete else None
    return CleanupReport(stack, candidates, kept, {i.id: i.name for i in images}, outcomes)


def cleanup_output(args: argparse.Namespace, reports: list[CleanupReport]) -> tuple[int, str]:
    failures = {r.stack: failure for r in reports if (failure := stopped(r.outcomes or [])) is not None}
    code = ExitCode.INPUT if failures else ExitCode.OK
    for stack, failure in failures.items():
        # stdout may go to a file or a pipe: the failure is said where an operator's terminal shows it.
        print(
            f"error: {stack}: the cleanup stopped at a failure, it did not finish: deleting {failure.id} "
            f"failed: {failure.reason}",
            file=sys.stderr,
        )
    if args.json:
        document: dict[str, Any] = {
            "format": FORMAT,
            "cleanup": {r.stack: [asdict(c) for c in r.candidates] for r in reports},
        }
        if args.delete:
            document["deletions"] = {
                r.stack: {
                    "finished": r.stack not in failures,
                    "candidates": [asdict(o) for o in r.outcomes or []],
                    "kept": [
                        {"id": i, "name": r.names.get(i, ""), "reason": why}
                        for i, why in sorted(r.kept.items())
                    ],
                }
                for r in reports
            }
        return code, json.dumps(document, indent=2, sort_keys=True) + "\n"
    age = timedelta(days=args.cleanup_after)
    return code, "".join(
        deletion_text(r.stack, r.outcomes, r.kept, r.names)
        if r.outcomes is not None
        else cleanup_text(r.stack, r.candidates, age, args.state is not None)
        for r in reports
    )


def promotion(
    args: argparse.Namespace, catalog: ImageCatalog, images: list[StackImages]
) -> dict[str, list[str] | None]:
    """Per stack: None when it is a canary (wave 1), else its blocking problems (file, field, fix)."""
    try:
        canaries = [entry.stack for entry in load_stacks(args.project) if entry.wave == 1]
    except CatalogError as error:
        raise InputError(error.render()) from None
    runs: list[CanaryRun] = []
    if any(stack.stack not in canaries for stack in images):
        for canary, record in last_good_records(args.state, canaries).items():
            try:
                ran = booted(record, args.project) if record is not None else {}
            except LastGoodError as error:
                raise InputError(str(error)) from None
            runs.append(CanaryRun(canary, record.commit if record is not None else None, ran))
    return {
        stack.stack: None
        if stack.stack in canaries
        else [str(p) for p in promotion_problems(stack, catalog, runs)]
        for stack in images
    }


def promotion_text(found: dict[str, list[str] | None]) -> str:
    lines: list[str] = []
    for stack, problems in found.items():
        if problems is None:
            lines.append(f"{stack}: promotion: a canary (wave 1): its images need no earlier run")
        elif not problems:
            lines.append(f"{stack}: promotion: every image ran in the canary with these bytes")
        else:
            lines.append(f"{stack}: promotion: BLOCKING, {len(problems)} image(s) not run in the canary:")
            lines.extend(f"  - {problem}" for problem in problems)
    return "\n".join(lines) + "\n" if lines else ""


def run(args: argparse.Namespace) -> tuple[int, str]:
    catalog, images, base = offline(args.project, args.stack, args.base)
    if args.cleanup_after is not None:
        # Every input is read, and refused if unusable, before any cloud is touched.
        names, digests = catalog_pins(catalog, catalog.file)
        if args.state is not None:
            good_names, good_digests = last_good_pins(
                last_good_records(args.state, known_stacks(args.project))
            )
            names, digests = {**good_names, **names}, {**good_digests, **digests}
        reports = [cleanup(args, stack.stack, (names, digests)) for stack in images]
        return cleanup_output(args, reports)
    promoted = promotion(args, catalog, images) if args.state is not None else {}
    unpromoted = any(promoted.values())
    changes = image_changes(base, catalog, images) if base is not None else []
    reuses = [c for c in changes if c.blocking]
    head = ""
    if args.base is not None and not args.json:
        head = changes_text(changes, str(args.base))
    extra: dict[str, Any] = {"promotion": promoted} if args.state is not None else {}
    if base is not None:
        extra["catalog_imports"] = imports_record(changes)
    if args.offline:
        used = sorted({name for s in images for name in s.used})
        clean = not reuses and not unpromoted
        if args.json:
            return _code(clean), to_json([], to_records(changes), extra)
        return _code(clean), head + (
            f"{catalog.file}: {len(catalog.entries)} images, every image of "
            f"{', '.join(args.stack)} pinned ({', '.join(used)})\n"
        ) + promotion_text(promoted)
    results = [verify(args, catalog, stack) for stack in images]
    verdicts = [verdict for verdict, _ in results]
    unverified = any(verdict.blocking_before_import(args.before_import) for verdict in verdicts)
    clean = not reuses and not unpromoted and not unverified
    if args.json:
        return _code(clean), to_json([record for _, record in results], to_records(changes), extra)
    return _code(clean), head + to_text(verdicts, args.before_import) + promotion_text(promoted)


def _code(clean: bool) -> int:
    return ExitCode.OK if clean else ExitCode.BLOCKING


def main(argv: list[str]) -> int:
    """The command; unusable input exits 2 and a bug 3, with a message, never a traceback."""
    return cli_run("images", _main, argv, unusable=(InputError, CloudError))


def _main(argv: list[str]) -> int:
    parser = ArgumentParser(
        prog="python -m webex_cloud images",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_stack_option(parser)
    parser.add_argument(
        "--project", type=Path, default=PROJECT_DIR, help="project folder (default: this checkout)"
    )
    add_cloud_options(parser, "reader")
    parser.add_argument(
        "--offline", action="store_true", help="check the catalog and the stacks only; read no cloud"
    )
    parser.add_argument(
        "--base", type=Path, help="the image catalog of the target branch: a name kept for other bytes blocks"
    )
    parser.add_argument(
        "--record-dir",
        type=Path,
        default=RECORD_DIR,
        help="where each stack's verification record is written (default: build/images)",
    )
    parser.add_argument(
        "--cleanup-after",
        type=days,
        metavar="DAYS",
        help="instead: list the project's images no catalog entry, instance or record keeps, older than DAYS "
        "(a report; nothing is deleted without --delete)",
    )
    parser.add_argument(
        "--delete",
        action="store_true",
        help="with --cleanup-after, one --stack and --state: delete each candidate after reading it again "
        "(the stack's operator identity, identities.operator; never CI's reader)",
    )
    parser.add_argument(
        "--state",
        help="the state backend URL (s3://... or file://...) holding each stack's last good deploy: "
        "promotion from the canary; with --cleanup-after, the images the last good deploys keep",
    )
    parser.add_argument(
        "--before-import",
        action="store_true",
        help="the deploy's check before its targeted import: an image not in the datacenter's Glance yet "
        "is to import (exit 0); any other finding, promotion included, blocks (exit 1)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the report as JSON (format webex-cloud.images/v1)"
    )
    args = parser.parse_args(argv)
    if args.offline and args.cleanup_after is not None:
        raise CommandError("--cleanup-after reads the cloud; it cannot be --offline: give one")
    if args.before_import and (args.offline or args.cleanup_after is not None):
        raise CommandError(
            "--before-import judges what this datacenter's Glance holds: not with --offline or "
            "--cleanup-after"
        )
    if args.delete and (args.cleanup_after is None or args.state is None):
        raise CommandError(
            "--delete deletes cleanup candidates: give --cleanup-after DAYS and --state URL (the last good "
            "deploys, whose images a rollback needs, are never deleted)"
        )
    # --cloud names one clouds.yaml entry: one datacenter's; --delete changes one datacenter at a time.
    single = [name for name, given in (("--cloud", args.cloud), ("--delete", args.delete)) if given]
    args.stack = select_stacks(args.stack, args.project, single)
    code, text = run(args)
    sys.stdout.write(text)
    return code
