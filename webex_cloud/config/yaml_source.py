"""Reading the catalog and stack files: strict, unambiguous and bounded for any input.

The same stack file is read by two parsers: the Pulumi CLI's (Go ``gopkg.in/yaml.v3``) under
``pulumi up``, and this module under the offline plan. They must never read a value differently,
and neither may differ from what the author meant. So a plain scalar is accepted only when YAML 1.1
(PyYAML's resolver), YAML 1.2's core schema and yaml.v3 all read it the same way; anything else
(``0443``: octal 291 for 1.1 and yaml.v3, 443 for 1.2; ``22:23``: sexagesimal 1343 for 1.1;
``yes``/``on``: booleans for 1.1, text for the others; ``1_000``; ``0x1F``; ``2026-02-30``) is
refused with its line, its field and the fix: write the decimal number, ``true``/``false``, or quote
the text. yaml.v3's rules: go-yaml/yaml v3 ``resolve.go`` (``resolve``: ``strconv.ParseInt(plain,
0, 64)`` after removing ``_``, so 1.1 octals "are still decoded by default in v3"; booleans only
``true``/``false`` in three spellings; ``parseTimestamp`` for unquoted ``YYYY-``... values).

The document is built from libyaml's event stream by an iterative composer, so that no input can
exhaust the stack (deep nesting is refused at MAX_DEPTH), anchors cannot multiply the document
(aliases may add at most MAX_ALIAS_VALUES values), and only the standard tags are honoured. Files
are opened without blocking and must be regular files of at most MAX_FILE_BYTES.
"""

from __future__ import annotations

import datetime
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from webex_cloud.config.errors import CatalogError, Problem
from webex_cloud.input_files import MAX_FILE_BYTES, InputFileError, read_bounded

MAX_DEPTH: Final = 32
"""Deepest nesting of mappings and lists (the stack file's deepest legitimate value is 7 levels)."""
MAX_ALIAS_VALUES: Final = 10_000
"""Values that aliases may add to a document in all (an alias counts every value it repeats)."""

_Parser = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TAG = "tag:yaml.org,2002:"

_BOOL_12 = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_NULL = {"", "~", "null", "Null", "NULL"}
# YAML 1.1's other booleans (https://yaml.org/type/bool.html); text for YAML 1.2 and yaml.v3.
_BOOL_11_ONLY = {
    word for base in ("yes", "no", "on", "off") for word in (base, base.capitalize(), base.upper())
}
_CANONICAL_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]{0,17})")
_CANONICAL_FLOAT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)\.[0-9]+(?:[eE][-+][0-9]+)?|[-+]?\.(?:inf|Inf|INF)")
_NUMERIC_START = frozenset("0123456789+-.")
# yaml.v3 reading of a scalar starting with a digit, a sign or a dot (resolve.go, see above).
_GO_INT = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)")
_GO_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
# parseTimestamp's time.Parse layouts: "2006-1-2T15:4:5.999999999Z07:00" (also with "t"),
# "2006-1-2 15:4:5.999999999" and "2006-1-2".
_GO_TIMESTAMP = re.compile(
    r"(?P<y>[0-9]{4})-(?P<m>[0-9]{1,2})-(?P<d>[0-9]{1,2})"
    r"(?:[Tt][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]+)?(?:Z|[-+][0-9]{2}:[0-9]{2})"
    r"| [0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]+)?)?"
)
# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution).
_CORE_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_CORE_FLOAT = re.compile(
    r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
)


_RESOLVER_11 = yaml.resolver.Resolver()
"""PyYAML's YAML 1.1 implicit resolvers (the SafeLoader's)."""


def _yaml11_reading(text: str) -> str:
    tag: str = _RESOLVER_11.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    kind = tag.removeprefix(_TAG)
    if kind == "str":
        return "text"
    try:
        value = yaml.SafeLoader(f"!!{kind} {text}").get_single_data()
    except (yaml.YAMLError, ValueError):
        return f"an invalid {kind}"
    return f"{kind} {value}"


_GO_SPECIAL_FLOATS = re.compile(r"\.(?:nan|NaN|NAN)|[-+]?\.(?:inf|Inf|INF)")
"""resolve.go's resolveMap floats."""


def _go_reading(text: str) -> str:
    if _GO_SPECIAL_FLOATS.fullmatch(text):
        return f"float {_float(text)}"
    plain = text.replace("_", "")
    stamp = _GO_TIMESTAMP.fullmatch(text)
    if stamp:
        try:
            datetime.date(int(stamp["y"]), int(stamp["m"]), int(stamp["d"]))
        except ValueError:
            return "text (time.Parse refuses the date)"
        return "a timestamp"
    if _GO_INT.fullmatch(plain):
        sign = -1 if plain.startswith("-") else 1
        digits = plain.lstrip("+-")
        octal_11 = len(digits) > 1 and digits[0] == "0" and digits[1].isdigit()
        return f"int {sign * int(digits, 8 if octal_11 else 0)}"
    if _GO_FLOAT.fullmatch(plain):
        return f"float {float(plain)}"
    return "text"


def _core_reading(text: str) -> str:
    if _CORE_INT.fullmatch(text):
        return f"int {int(text, 0) if text[:2] in ('0o', '0x') else int(text)}"
    if _CORE_FLOAT.fullmatch(text):
        return f"float {_float(text)}"
    return "text"


def _ambiguity(text: str) -> str | None:
    """Why the plain scalar ``text`` is read differently by YAML 1.1, 1.2 or yaml.v3, or None."""
    if text in _BOOL_11_ONLY:
        return (
            f"{text!r} is a boolean in YAML 1.1 but text for the Pulumi CLI (yaml.v3) and YAML 1.2; "
            f"write true or false, or quote it ('{text}') if it is text"
        )
    if text[0] not in _NUMERIC_START or _CANONICAL_INT.fullmatch(text) or _CANONICAL_FLOAT.fullmatch(text):
        return None  # text, or a number every reader reads alike (the common case: checked first)
    readings = {
        "YAML 1.1": _yaml11_reading(text),
        "the Pulumi CLI (yaml.v3)": _go_reading(text),
        "YAML 1.2": _core_reading(text),
    }
    if set(readings.values()) == {"text"}:
        return None
    read = "; ".join(f"{who} reads {what}" for who, what in readings.items())
    if any("timestamp" in reading or "time.Parse" in reading for reading in readings.values()):
        fix = f"quote it ('{text}'): unquoted, it is read as a date"
    else:
        fix = (
            "write a number in plain decimal (no leading zero, '_', ':', exponent or base prefix), "
            f"or quote it ('{text}') if it is text"
        )
    return f"{text!r} is read differently by YAML readers ({read}); {fix}"


def _plain_value(text: str) -> object:
    """The value of a plain scalar that every reader agrees on (checked by ``_ambiguity`` first)."""
    if text in _NULL:
        return None
    if text in _BOOL_12:
        return _BOOL_12[text]
    if text[0] in _NUMERIC_START:
        if _CANONICAL_INT.fullmatch(text):
            return int(text)
        if _CANONICAL_FLOAT.fullmatch(text):
            return _float(text)
    if text in {".nan", ".NaN", ".NAN"}:
        return math.nan
    return text


def _float(text: str) -> float:
    """A YAML float (``1.5``, ``-.inf``, ``.NaN``) as Python reads it."""
    return float(re.sub(r"\.(inf|Inf|INF)$", "inf", re.sub(r"^\.(nan|NaN|NAN)$", "nan", text)))


class _Refused(Exception):
    """A problem with the document at ``mark``; becomes a Problem naming line, column and field."""

    def __init__(self, mark: Any, message: str, path: str | None) -> None:
        super().__init__(message)
        self.mark = mark
        self.message = message
        self.path = path


@dataclass
class _Frame:
    """An open mapping or list while its events arrive."""

    path: str
    mark: Any
    anchor: str | None
    mapping: bool
    items: list[Any] = field(default_factory=list)
    weight: int = 1
    key: object = None
    key_mark: Any = None
    have_key: bool = False
    merges: list[dict[Any, Any]] = field(default_factory=list)
    seen: set[Any] = field(default_factory=set)


def _child_path(frame: _Frame) -> str:
    if not frame.mapping:
        return f"{frame.path}[{len(frame.items)}]"
    if not frame.have_key:
        return frame.path
    key = str(frame.key)
    return f"{frame.path}.{key}" if frame.path else key


def _scalar(event: Any, path: str | None = None) -> object:
    """The value of a scalar event; a refusal's path is filled in by the composer (only then computed)."""
    text: str = event.value
    tag: str | None = event.tag
    plain = event.style == "" or event.style is None
    if (tag in (None, "!") and not plain) or tag == _TAG + "str":
        return text
    if tag is None:
        if not text:
            return None
        why = _ambiguity(text)
        if why is not None:
            raise _Refused(event.start_mark, why, path)
        return _plain_value(text)
    if tag == "!":
        return text
    kind = tag.removeprefix(_TAG)
    if kind not in {"int", "float", "bool", "null"} or tag == kind:
        raise _Refused(
            event.start_mark,
            f"the tag {tag!r} is not supported (only !!str, !!int, !!float, !!bool, !!null); remove it",
            path,
        )
    value = _plain_value(text) if text and _ambiguity(text) is None else text
    if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    wanted = {"int": int, "float": float, "bool": bool, "null": type(None)}[kind]
    if (kind == "null" and text in _NULL) or (
        isinstance(value, wanted) and (kind == "bool") == isinstance(value, bool)
    ):
        return None if kind == "null" else value
    raise _Refused(
        event.start_mark, f"{text!r} is not a valid !!{kind}; write a plain {kind} or remove the tag", path
    )


class _Composer:
    """Builds plain Python values from parser events without recursion."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.anchors: dict[str, tuple[object, int]] = {}
        self.alias_values = 0

    def compose(self, text: str) -> object:
        stack: list[_Frame] = []
        try:
            return self._compose(text, stack)
        except _Refused as refused:
            if refused.path is None:
                refused.path = _child_path(stack[-1]) if stack else ""
            raise

    def _compose(self, text: str, stack: list[_Frame]) -> object:
        result: object = None
        documents = 0
        scalar = yaml.ScalarEvent
        for event in yaml.parse(text, Loader=_Parser):
            value: object
            if type(event) is scalar:
                value = _scalar(event)
                if stack:
                    self._add(stack[-1], value, 1, event.start_mark, event, event.anchor)
                else:
                    self._remember(event.anchor, value, 1)
                    result = value
            elif isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise _Refused(event.start_mark, "a file holds one YAML document; remove the '---'", "")
            elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                path = _child_path(stack[-1]) if stack else ""
                if len(stack) >= MAX_DEPTH:
                    raise _Refused(
                        event.start_mark,
                        f"nested more than {MAX_DEPTH} levels deep; no setting needs that",
                        path,
                    )
                mapping = isinstance(event, yaml.MappingStartEvent)
                expected = _TAG + ("map" if mapping else "seq")
                if event.tag not in (None, "!", expected):
                    raise _Refused(
                        event.start_mark, f"the tag {event.tag!r} is not supported; remove it", path
                    )
                stack.append(_Frame(path, event.start_mark, event.anchor, mapping))
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                frame = stack.pop()
                if frame.mapping:
                    mapping_value: dict[Any, Any] = {}
                    for merged in frame.merges:
                        for key, item in merged.items():
                            mapping_value.setdefault(key, item)
                    mapping_value.update(frame.items)
                    value = mapping_value
                else:
                    value = frame.items
                if stack:
                    self._add(stack[-1], value, frame.weight, frame.mark, event, frame.anchor)
                else:
                    self._remember(frame.anchor, value, frame.weight)
                    result = value
            elif isinstance(event, yaml.AliasEvent):
                path = _child_path(stack[-1]) if stack else ""
                if event.anchor not in self.anchors:
                    raise _Refused(
                        event.start_mark,
                        f"alias *{event.anchor} names no anchor defined before it (or one it is inside of)",
                        path,
                    )
                value, weight = self.anchors[event.anchor]
                self.alias_values += weight
                if self.alias_values > MAX_ALIAS_VALUES:
                    raise _Refused(
                        event.start_mark,
                        f"aliases repeat more than {MAX_ALIAS_VALUES} values in all; write the repeated "
                        "parts out or use fewer aliases",
                        path,
                    )
                if stack:
                    self._add(stack[-1], value, weight, event.start_mark, event, None, alias=True)
                else:
                    result = value
        return result

    def _remember(self, anchor: str | None, value: object, weight: int) -> None:
        if anchor is not None:
            self.anchors[anchor] = (value, weight)

    def _add(
        self,
        frame: _Frame,
        value: object,
        weight: int,
        mark: Any,
        event: Any,
        anchor: str | None,
        alias: bool = False,
    ) -> None:
        if not alias:
            self._remember(anchor, value, weight)
        frame.weight += weight
        if not frame.mapping:
            frame.items.append(value)
            return
        if not frame.have_key:
            if isinstance(value, (dict, list)):
                raise _Refused(mark, "a key must be text, not a mapping or list", frame.path)
            is_merge = value == "<<" and isinstance(event, yaml.ScalarEvent) and event.style in ("", None)
            frame.key, frame.key_mark, frame.have_key = (_MERGE if is_merge else value), mark, True
            return
        key, frame.have_key = frame.key, False
        if key is _MERGE:
            sources = value if isinstance(value, list) else [value]
            if not all(isinstance(source, dict) for source in sources):
                raise _Refused(
                    frame.key_mark,
                    "'<<' merges a mapping or a list of mappings (anchored with &)",
                    frame.path,
                )
            frame.merges.extend(sources)  # type: ignore[arg-type]
            return
        if key in frame.seen:
            shown = f"{frame.path}.{key}" if frame.path else str(key)
            raise _Refused(frame.key_mark, f"duplicate key {key!r} (each key may appear once)", shown)
        frame.seen.add(key)
        frame.items.append((key, value))


_MERGE = object()


def _where(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def parse_yaml(text: str, label: str) -> object:
    """Parse one YAML document; every refusal becomes a CatalogError naming line, column and field."""
    composer = _Composer(label)
    try:
        return composer.compose(text)
    except _Refused as refused:
        where = _where(refused.mark)
        field_name = refused.path or where
        message = refused.message if not refused.path else f"{refused.message} ({where})"
        raise CatalogError([Problem(label, field_name, message)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = exc.problem or exc.context or "invalid YAML"
        raise CatalogError([Problem(label, _where(mark), f"invalid YAML: {reason}")]) from None
    except yaml.YAMLError as exc:
        raise CatalogError([Problem(label, "", f"invalid YAML: {exc}")]) from None


def read_text(path: Path, label: str) -> str:
    """Read a UTF-8 regular file of at most MAX_FILE_BYTES, without blocking on special files."""
    try:
        data = read_bounded(path, MAX_FILE_BYTES)
    except FileNotFoundError as exc:
        raise CatalogError([Problem(label, "", f"cannot read the file: {exc.strerror}")]) from None
    except InputFileError as exc:
        message = str(exc).replace("name a regular file", "it must be a YAML file")
        raise CatalogError([Problem(label, "", message)]) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise CatalogError([Problem(label, "", "not UTF-8 text; save the file as UTF-8")]) from None


def read_yaml(path: Path, label: str) -> object:
    """Read and parse a YAML file, reporting unreadable files as CatalogError."""
    return parse_yaml(read_text(path, label), label)
