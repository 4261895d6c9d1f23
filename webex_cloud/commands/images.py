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

--cleanup-after DAYS reports instead, per stack, the project's Glance images that may go: no catalog
entry names them, no instance boots them (read live), the stack's last record (build/images/<stack>.json:
its images and their rollback images) does not hold them, and they are older than DAYS. It deletes
nothing (an operator does, with the operator identity) and exits 0.

Exit status: 0 every image verified, 1 a blocking finding (an image missing, not active, other bytes, an
ambiguous name, a name reused for other bytes), 2 the catalog, a stack file or the cloud cannot be used,
3 an internal error. Every API call has a timeout (--timeout).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
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
from webex_cloud.cloud.images import GlanceImage, read_images
from webex_cloud.cloud.session import connect
from webex_cloud.cloud.views import parse_server, read_servers
from webex_cloud.config.errors import CatalogError
from webex_cloud.config.image_catalog import ImageCatalog, load_catalog, parse_catalog
from webex_cloud.config.yaml_source import read_yaml
from webex_cloud.exit_codes import ExitCode
from webex_cloud.images.changes import image_changes, to_records
from webex_cloud.images.changes import to_text as changes_text
from webex_cloud.images.cleanup import Candidate, cleanup_candidates
from webex_cloud.images.cleanup import to_text as cleanup_text
from webex_cloud.images.record import FORMAT, stack_record, to_json, to_text
from webex_cloud.images.usage import StackImages, load_stack_images
from webex_cloud.images.verify import StackVerdict, judge_stack, looked_up
from webex_cloud.paths import BUILD_DIR, PROJECT_DIR

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
    names = looked_up(catalog, images.used)
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


def cleanup(args: argparse.Namespace, catalog: ImageCatalog, stack: str) -> tuple[str, list[Candidate]]:
    cloud = args.cloud or stack_entry(stack, Access.READ, args.project)
    recorded = recorded_ids(args.record_dir / f"{stack}.json")
    with connect(cloud, Access.READ, args.clouds_yaml, args.timeout) as session:
        images = read_images(session)
        in_use = {parse_server(raw).image_id for raw in read_servers(session)} - {""}
        project = session.project_id
    return stack, cleanup_candidates(
        catalog,
        images,
        project=project,
        in_use=in_use,
        recorded=recorded,
        now=datetime.now(UTC),
        min_age=timedelta(days=args.cleanup_after),
    )


def run(args: argparse.Namespace) -> tuple[bool, str]:
    catalog, images, base = offline(args.project, args.stack, args.base)
    if args.cleanup_after is not None:
        age = timedelta(days=args.cleanup_after)
        reports = [cleanup(args, catalog, stack.stack) for stack in images]
        if args.json:
            document = {
                "format": FORMAT,
                "cleanup": {stack: [asdict(c) for c in found] for stack, found in reports},
            }
            return True, json.dumps(document, indent=2, sort_keys=True) + "\n"
        return True, "".join(cleanup_text(stack, found, age) for stack, found in reports)
    changes = image_changes(base, catalog, images) if base is not None else []
    reuses = [c for c in changes if c.blocking]
    head = ""
    if args.base is not None and not args.json:
        head = changes_text(changes, str(args.base))
    if args.offline:
        used = sorted({name for s in images for name in s.used})
        if args.json:
            return not reuses, to_json([], to_records(changes))
        return not reuses, head + (
            f"{catalog.file}: {len(catalog.entries)} images, every image of "
            f"{', '.join(args.stack)} pinned ({', '.join(used)})\n"
        )
    results = [verify(args, catalog, stack) for stack in images]
    verdicts = [verdict for verdict, _ in results]
    clean = not reuses and not any(v.blocking for v in verdicts)
    if args.json:
        return clean, to_json([record for _, record in results], to_records(changes))
    return clean, head + to_text(verdicts)


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
        "(a report; nothing is deleted)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the report as JSON (format webex-cloud.images/v1)"
    )
    args = parser.parse_args(argv)
    if args.offline and args.cleanup_after is not None:
        raise CommandError("--cleanup-after reads the cloud; it cannot be --offline: give one")
    # --cloud names one clouds.yaml entry: one datacenter's.
    args.stack = select_stacks(args.stack, args.project, ["--cloud"] if args.cloud else [])
    clean, text = run(args)
    sys.stdout.write(text)
    return ExitCode.OK if clean else ExitCode.BLOCKING
