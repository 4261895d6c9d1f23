"""The filter wheel is reproducible: same source, same bytes, wherever and whenever it is built."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.controller.test_rolling_deploy import make_source
from webex_cloud.controller.filter_release import FILTERS_SOURCE, build_release
from webex_cloud.controller.wheel import WheelBuildError, build_wheel, wheel_bytes


def test_the_real_filter_distribution_builds_to_the_same_hash_twice(tmp_path: Path) -> None:
    first = build_wheel(FILTERS_SOURCE, tmp_path / "a")
    second = build_wheel(FILTERS_SOURCE, tmp_path / "b")
    assert first.sha256 == second.sha256
    assert first.path.read_bytes() == second.path.read_bytes()
    assert build_release().wheel.sha256 == first.sha256


def test_the_hash_ignores_checkout_path_file_times_and_caches(tmp_path: Path) -> None:
    original = build_wheel(make_source(tmp_path / "one"), tmp_path / "out1")
    copy = tmp_path / "elsewhere" / "deeper"
    shutil.copytree(tmp_path / "one", copy)
    for path in copy.rglob("*"):
        os.utime(path, (1_900_000_000, 1_900_000_000))
    (copy / "src" / "demo_filters" / "__pycache__").mkdir()
    (copy / "src" / "demo_filters" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"junk")
    (copy / "src" / "demo_filters.egg-info").mkdir()
    assert build_wheel(copy, tmp_path / "out2").sha256 == original.sha256


def test_modules_and_declared_package_data_are_packaged(tmp_path: Path) -> None:
    source = make_source(tmp_path / "src")
    package = source / "src" / "demo_filters"
    (package / "py.typed").write_text("")
    (package / "notes.txt").write_text("not declared")
    (package / "sub").mkdir()
    (package / "sub" / "__init__.py").write_text("")
    with (source / "pyproject.toml").open("a") as handle:
        handle.write('[tool.setuptools.package-data]\ndemo_filters = ["py.typed"]\n')
    with zipfile.ZipFile(build_wheel(source, tmp_path / "out").path) as archive:
        packaged = [n for n in archive.namelist() if not n.startswith("demo_filters-")]
    assert packaged == ["demo_filters/__init__.py", "demo_filters/py.typed", "demo_filters/sub/__init__.py"]


def test_a_source_change_changes_the_hash(tmp_path: Path) -> None:
    before = build_wheel(make_source(tmp_path / "src"), tmp_path / "out")
    (tmp_path / "src" / "src" / "demo_filters" / "__init__.py").write_text("VALUE = 2\n")
    after = build_wheel(tmp_path / "src", tmp_path / "out")
    assert after.sha256 != before.sha256
    assert after.path == before.path  # same name, new content


def test_entries_are_sorted_fixed_in_time_and_mode(tmp_path: Path) -> None:
    built = build_wheel(make_source(tmp_path / "src"), tmp_path / "out")
    with zipfile.ZipFile(built.path) as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]
    assert names[-1].endswith(".dist-info/RECORD")
    assert names[:1] == ["demo_filters/__init__.py"]
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.external_attr >> 16 for i in infos} == {0o100644}


def test_pip_installs_the_wheel_and_finds_its_entry_point(tmp_path: Path) -> None:
    built = build_wheel(make_source(tmp_path / "src"), tmp_path / "out")
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            "--target",
            str(target),
            str(built.path),
        ],
        check=True,
        timeout=120,
    )
    probe = (
        "import importlib.metadata as m;"
        "print([e.value for e in m.entry_points(group='cinder.scheduler.filters') if e.name == 'Demo'])"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(target)!r}); {probe}"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stdout.strip() == "['demo_filters:VALUE']"


@pytest.mark.parametrize(
    ("pyproject", "message"),
    [
        ('[project]\nname = "x"\ndynamic = ["version"]\n', "project.dynamic"),
        (
            '[project]\nname = "x"\nversion = "1"\nscripts = {a = "b:c"}\n',
            "unsupported [project] keys ['scripts']",
        ),
        (
            '[project]\nname = "x"\nversion = "1"\n[tool.setuptools]\npy-modules = ["y"]\n',
            "unsupported [tool.setuptools] keys ['py-modules']",
        ),
        ('[project]\nversion = "1"\n', "project.name is required"),
    ],
)
def test_what_it_cannot_build_faithfully_is_refused_by_name(
    tmp_path: Path, pyproject: str, message: str
) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "__init__.py").write_text("")
    (tmp_path / "pyproject.toml").write_text(pyproject)
    with pytest.raises(WheelBuildError, match=message.replace("[", r"\[").replace("]", r"\]")):
        wheel_bytes(tmp_path)


@pytest.mark.parametrize(
    "link",
    [
        "src/demo_filters/stolen.py",  # a module that is a symlink to a file outside
        "src/demo_filters/sub",  # a package folder that is a symlink to a folder outside
    ],
)
def test_a_symlink_out_of_the_source_tree_is_refused(tmp_path: Path, link: str) -> None:
    """Whatever the link points at (a key, another checkout's code) would go into the wheel that the
    controllers load as root: the builder refuses it and names it."""
    source = make_source(tmp_path / "tree")
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    (outside / "stolen.py").write_text("SECRET = 'fake'\n")
    (outside / "sub" / "__init__.py").write_text("SECRET = 'fake'\n")
    target = outside / Path(link).name
    (source / link).symlink_to(target)
    with pytest.raises(WheelBuildError, match="outside the source tree") as refused:
        wheel_bytes(source)
    assert str(target) in str(refused.value)


def test_a_where_or_readme_reaching_out_of_the_tree_is_refused(tmp_path: Path) -> None:
    source = make_source(tmp_path / "tree")
    (tmp_path / "NOTES.md").write_text("private\n")
    pyproject = source / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace('version = "1.0.0"\n', 'version = "1.0.0"\nreadme = "../NOTES.md"\n')
    )
    with pytest.raises(WheelBuildError, match=r"project\.readme .* outside the source tree"):
        wheel_bytes(source)
    pyproject.write_text(pyproject.read_text().replace('where = ["src"]', 'where = ["../.."]'))
    with pytest.raises(WheelBuildError, match="outside the source tree"):
        wheel_bytes(source)
