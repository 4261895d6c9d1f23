"""Reading YAML files strictly: duplicate keys and non-text content are errors, not surprises."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from webex_cloud.config.errors import CatalogError, Problem

# libyaml's parser when PyYAML was built with it; the constructors stay PyYAML's (safe) ones.
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_BaseLoader):  # type: ignore[valid-type,misc]
    """SafeLoader that refuses duplicate mapping keys (PyYAML silently keeps the last one)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in mapping
        except TypeError as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"unhashable key {key!r}", key_node.start_mark
            ) from exc
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (each key may appear once)", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_yaml(text: str, label: str) -> object:
    """Parse one YAML document; a syntax error becomes a CatalogError naming line and column."""
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = exc.problem or exc.context or "invalid YAML"
        raise CatalogError([Problem(label, where, f"invalid YAML: {reason}")]) from None
    except yaml.YAMLError as exc:
        raise CatalogError([Problem(label, "", f"invalid YAML: {exc}")]) from None


def read_text(path: Path, label: str) -> str:
    """Read a UTF-8 file, reporting unreadable files as CatalogError."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CatalogError([Problem(label, "", "not UTF-8 text; save the file as UTF-8")]) from None
    except OSError as exc:
        raise CatalogError([Problem(label, "", f"cannot read the file: {exc.strerror}")]) from None


def read_yaml(path: Path, label: str) -> object:
    """Read and parse a YAML file, reporting unreadable files as CatalogError."""
    return parse_yaml(read_text(path, label), label)
