"""A byte-for-byte reproducible wheel of a pure-Python ``src``-layout distribution.

The wheel's sha256 is the trigger of the controllers' rolling deployment, so it must depend on the
source and nothing else: not on the machine, the clock, the checkout path, the file system's order or
the installed build backend's version (an operator's laptop and CI must agree, or every ``pulumi up``
from a new machine would roll the schedulers). Hence a small builder of our own instead of setuptools:
entries sorted, one fixed timestamp, fixed permissions, stored uncompressed (deflate output may differ
between zlib builds), metadata written from ``pyproject.toml`` in a fixed order.

It supports what the scheduler-filter distribution uses (PEP 621 ``[project]`` without dynamic fields,
``[project.entry-points]``, ``[tool.setuptools.packages.find] where``) and refuses anything else by
name rather than building a wheel that differs from what the declared backend would build.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import tomllib
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webex_cloud import atomic

ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
"""The earliest date a zip entry can carry; every entry gets it."""
FILE_MODE = 0o100644
"""Regular file, rw-r--r--: what an installer would create anyway."""
PACKAGED_SUFFIXES = (".py",)
"""Files of a package that always go into the wheel (setuptools' default); others need package-data."""
_SUPPORTED_PROJECT_KEYS = frozenset(
    {
        "name",
        "version",
        "description",
        "readme",
        "requires-python",
        "license",
        "keywords",
        "classifiers",
        "urls",
        "dependencies",
        "optional-dependencies",
        "entry-points",
    }
)
_SUPPORTED_FIND_KEYS = frozenset({"where"})


class WheelBuildError(Exception):
    """The source cannot be built reproducibly; the message names the file and key at fault."""


@dataclass(frozen=True)
class BuiltWheel:
    path: Path
    """Where the wheel was written."""
    filename: str
    """The wheel's PEP 427 file name (``name-version-py3-none-any.whl``)."""
    sha256: str
    """Hex sha256 of the wheel's bytes: equal sources give equal hashes."""
    distribution: str
    """Distribution name as declared in ``pyproject.toml``."""
    version: str
    """Declared version."""


def _normalise(name: str) -> str:
    """PEP 427 file-name form of a distribution name."""
    return re.sub(r"[-_.]+", "_", name).lower()


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
    return f"sha256={digest}"


def _load_pyproject(source: Path) -> dict[str, Any]:
    path = source / "pyproject.toml"
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise WheelBuildError(f"{path}: missing; the filter distribution is declared there") from None
    except tomllib.TOMLDecodeError as error:
        raise WheelBuildError(f"{path}: not valid TOML: {error}") from None


def _project(pyproject: Mapping[str, Any], label: str) -> Mapping[str, Any]:
    project = pyproject.get("project")
    if not isinstance(project, dict):
        raise WheelBuildError(f"{label}: no [project] table")
    if project.get("dynamic"):
        raise WheelBuildError(
            f"{label}: project.dynamic {project['dynamic']!r} is not supported; declare the fields statically"
        )
    unknown = sorted(set(project) - _SUPPORTED_PROJECT_KEYS)
    if unknown:
        raise WheelBuildError(
            f"{label}: unsupported [project] keys {unknown}; supported: {sorted(_SUPPORTED_PROJECT_KEYS)}"
        )
    for key in ("name", "version"):
        if not isinstance(project.get(key), str) or not project[key]:
            raise WheelBuildError(f"{label}: project.{key} is required (a string)")
    return project


def _inside(path: Path, source: Path, label: str, what: str) -> Path:
    """``path`` itself, once it is known to resolve inside ``source``: a symlink or a ``..`` reaching
    out of the tree would put files the review never saw (a key, another checkout's code) in the wheel."""
    resolved, tree = path.resolve(), source.resolve()
    if not resolved.is_relative_to(tree):
        raise WheelBuildError(
            f"{label}: {what} {path} resolves to {resolved}, outside the source tree {tree}; "
            "keep every packaged file inside it (no symlink or '..' out of it)"
        )
    return path


def _package_roots(
    pyproject: Mapping[str, Any], source: Path, label: str
) -> tuple[list[Path], dict[str, list[str]]]:
    """The ``where`` folders packages are found in, and the package-data globs per package."""
    setuptools = pyproject.get("tool", {}).get("setuptools", {})
    unknown_setuptools = sorted(set(setuptools) - {"packages", "package-data"})
    if unknown_setuptools:
        raise WheelBuildError(f"{label}: unsupported [tool.setuptools] keys {unknown_setuptools}")
    packages = setuptools.get("packages", {"find": {}})
    if not isinstance(packages, dict) or set(packages) != {"find"}:
        raise WheelBuildError(f"{label}: only [tool.setuptools.packages.find] is supported")
    find = packages["find"]
    unknown_find = sorted(set(find) - _SUPPORTED_FIND_KEYS)
    if unknown_find:
        raise WheelBuildError(f"{label}: unsupported [tool.setuptools.packages.find] keys {unknown_find}")
    data = setuptools.get("package-data", {})
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise WheelBuildError(f"{label}: [tool.setuptools.package-data] maps packages to lists of globs")
    roots = [
        _inside(source / where, source, label, "packages.find.where") for where in find.get("where", ["."])
    ]
    return roots, data


def _package_files(
    source: Path, label: str, roots: Iterable[Path], data: Mapping[str, list[str]]
) -> dict[str, bytes]:
    """Archive path -> content of every packaged file of every package under ``roots``: its modules,
    and the files matching its package-data globs (``"*"`` applies to every package)."""
    files: dict[str, bytes] = {}
    for root in roots:
        for init in sorted(root.rglob("__init__.py")):
            package = _inside(init, source, label, "package").parent
            parts = package.relative_to(root).parts
            if any(part == "__pycache__" or part.endswith(".egg-info") for part in parts):
                continue
            globs = [*data.get(".".join(parts), []), *data.get("*", [])]
            for path in sorted(package.iterdir()):
                _inside(path, source, label, "file")  # a link out is refused even if not packaged
                if path.is_file() and (path.suffix in PACKAGED_SUFFIXES or any(path.match(g) for g in globs)):
                    files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files


def _readme(project: Mapping[str, Any], source: Path, label: str) -> tuple[str, str] | None:
    """(content type, text) of ``project.readme`` (a file name or a table with ``file``/``text``)."""
    readme = project.get("readme")
    if readme is None:
        return None
    spec = {"file": readme} if isinstance(readme, str) else dict(readme)
    if "file" in spec:
        path = _inside(source / spec["file"], source, label, "project.readme")
        if not path.is_file():
            raise WheelBuildError(f"{label}: project.readme names {spec['file']!r}, which does not exist")
        text = path.read_text(encoding="utf-8")
    else:
        text = str(spec.get("text", ""))
    default_type = "text/markdown" if str(spec.get("file", "")).endswith(".md") else "text/plain"
    return str(spec.get("content-type", default_type)), text


def _metadata(project: Mapping[str, Any], source: Path, label: str) -> bytes:
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {project['version']}",
    ]
    if project.get("description"):
        lines.append(f"Summary: {project['description']}")
    if project.get("keywords"):
        lines.append(f"Keywords: {','.join(project['keywords'])}")
    license_ = project.get("license")
    if isinstance(license_, dict) and "text" in license_:
        lines.append(f"License: {license_['text']}")
    elif license_ is not None:
        raise WheelBuildError(f"{label}: project.license: only {{text = ...}} is supported")
    lines += [f"Classifier: {classifier}" for classifier in project.get("classifiers", [])]
    lines += [f"Project-URL: {name}, {url}" for name, url in project.get("urls", {}).items()]
    if project.get("requires-python"):
        lines.append(f"Requires-Python: {project['requires-python']}")
    lines += [f"Requires-Dist: {requirement}" for requirement in project.get("dependencies", [])]
    for extra, requirements in sorted(project.get("optional-dependencies", {}).items()):
        lines.append(f"Provides-Extra: {extra}")
        lines += [f'Requires-Dist: {requirement}; extra == "{extra}"' for requirement in requirements]
    readme = _readme(project, source, label)
    if readme is not None:
        lines.append(f"Description-Content-Type: {readme[0]}")
    body = "\n".join(lines) + "\n"
    if readme is not None:
        body += "\n" + readme[1]
    return body.encode("utf-8")


def _entry_points(project: Mapping[str, Any]) -> bytes | None:
    groups = project.get("entry-points", {})
    if not groups:
        return None
    text = ""
    for group, entries in sorted(groups.items()):
        text += (
            f"[{group}]\n" + "".join(f"{key} = {value}\n" for key, value in sorted(entries.items())) + "\n"
        )
    return text.encode("utf-8")


def wheel_bytes(source: Path) -> tuple[str, bytes, Mapping[str, Any]]:
    """The wheel of the distribution in ``source``: its file name, its bytes, its [project] table."""
    label = str(source / "pyproject.toml")
    pyproject = _load_pyproject(source)
    project = _project(pyproject, label)
    files = _package_files(source, label, *_package_roots(pyproject, source, label))
    if not files:
        raise WheelBuildError(f"{label}: no package (a folder with __init__.py) found to put in the wheel")
    stem = f"{_normalise(project['name'])}-{project['version']}"
    dist_info = f"{stem}.dist-info"
    meta: dict[str, bytes] = {
        f"{dist_info}/METADATA": _metadata(project, source, label),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: webex-cloud reproducible wheel\n"
        b"Root-Is-Purelib: true\nTag: py3-none-any\n",
        f"{dist_info}/top_level.txt": "".join(
            f"{name}\n" for name in sorted({path.split("/", 1)[0] for path in files})
        ).encode("utf-8"),
    }
    entry_points = _entry_points(project)
    if entry_points is not None:
        meta[f"{dist_info}/entry_points.txt"] = entry_points
    # Packages first, then the .dist-info with RECORD last (the order PEP 427 recommends).
    ordered = sorted(files.items()) + sorted(meta.items())
    record_path = f"{dist_info}/RECORD"
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in ordered)
    record += f"{record_path},,\n"
    ordered.append((record_path, record.encode("utf-8")))

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in ordered:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIMESTAMP)
            info.external_attr = FILE_MODE << 16
            info.create_system = 3  # Unix, so the mode above is what installers read
            archive.writestr(info, data)
    return f"{stem}-py3-none-any.whl", buffer.getvalue(), project


def build_wheel(source: Path, out_dir: Path) -> BuiltWheel:
    """Build the wheel of ``source`` into ``out_dir``; an unchanged file is left untouched."""
    filename, data, project = wheel_bytes(source)
    target = out_dir / filename
    if not (target.is_file() and target.read_bytes() == data):
        atomic.write_bytes(target, data)
    return BuiltWheel(
        path=target,
        filename=filename,
        sha256=hashlib.sha256(data).hexdigest(),
        distribution=str(project["name"]),
        version=str(project["version"]),
    )
