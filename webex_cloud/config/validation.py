"""Turning pydantic validation errors into Problems that name the field and the fix."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from webex_cloud.config.errors import KEY_MARK, CatalogError, Problem, field_path, is_internal

M = TypeVar("M", bound=BaseModel)


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated/Optional wrappers down to the type that has the fields or items."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            annotation = models[0] if models else args[0]
        else:
            return annotation


def _type_at(model: type[BaseModel], loc: Sequence[int | str]) -> Any:
    """The declared type at a location inside ``model`` (None when it cannot be followed)."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        origin = typing.get_origin(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            if not isinstance(part, str) or part not in current.model_fields:
                return None
            current = current.model_fields[part].annotation
        elif origin in (list, tuple, Sequence):
            current = typing.get_args(current)[0]
        elif origin is dict:
            current = typing.get_args(current)[1]
        else:
            return None
    return _unwrap(current)


def _describe(error: dict[str, Any], model: type[BaseModel]) -> str:
    kind = error["type"]
    loc = tuple(part for part in error["loc"] if not is_internal(part))
    if kind == "extra_forbidden":
        parent = _type_at(model, loc[:-1])
        valid = (
            sorted(parent.model_fields) if isinstance(parent, type) and issubclass(parent, BaseModel) else []
        )
        key = str(loc[-1])
        hint = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
        text = f"unknown key {key!r}"
        if hint:
            text += f"; did you mean {hint[0]!r}?"
        if valid:
            text += f" Valid keys: {', '.join(valid)}"
        return text
    if kind == "missing":
        return "required field is missing; add it"
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    value = error.get("input")
    if kind not in {"model_type", "dict_type", "list_type"} and isinstance(value, (str, int, float)):
        shown = repr(value)
        if len(shown) <= 60:
            message += f" (got {shown})"
    elif kind in {"model_type", "dict_type"}:
        message = f"expected a mapping of keys to values, got {type(value).__name__}"
    elif kind == "list_type":
        message = f"expected a list, got {type(value).__name__}"
    return message


def validate(model: type[M], data: object, file: str, prefix: str = "") -> M:
    """Validate ``data`` as ``model``; every error becomes a Problem in one CatalogError."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # A value failing every member of a union (an IPv4 or IPv6 prefix) is one problem, not one
        # per member: their messages are joined under the one field path.
        messages: dict[str, list[str]] = {}
        for error in exc.errors(include_url=False):
            loc = tuple(error["loc"])
            path = field_path(loc)
            if prefix:
                path = f"{prefix}.{path}" if path else prefix
            message = _describe(dict(error), model)
            if loc and loc[-1] == KEY_MARK:
                message = f"the key {str(loc[-2])!r} is invalid: {message}"
            if message not in messages.setdefault(path, []):
                messages[path].append(message)
        raise CatalogError(
            [Problem(file, path, " or ".join(texts)) for path, texts in messages.items()]
        ) from None
