"""docs/catalog.md, generated from the input models' field docstrings (the one place they are written).

``python -m webex_cloud.config.reference`` rewrites the page; tests/config/test_reference.py fails
when the page and the models disagree.
"""

from __future__ import annotations

import re
import sys
import types
import typing
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from webex_cloud.config.models import Datacenter, Service
from webex_cloud.paths import PROJECT_DIR

PAGE = PROJECT_DIR / "docs" / "catalog.md"

_HEAD = """# Catalog and stack config reference

Generated from the field docstrings of `webex_cloud/config/models.py` by
`python -m webex_cloud.config.reference`; do not edit by hand. The loader reports every problem at
once, each with its file, field and fix (`python -m webex_cloud plan` prints them).

- A **catalog file** (`catalog/<service>.yaml`) is one `Service`.
- A **stack config** (`stacks/Pulumi.<stack>.yaml`) holds one `Datacenter` under
  `config: webex-cloud:datacenter`.
"""


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _type_name(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(annotation))
    if origin is typing.Literal:
        return " \\| ".join(repr(a) for a in typing.get_args(annotation)).replace("'", "`")
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(annotation))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    if annotation is type(None):
        return "null"
    if isinstance(annotation, type):
        return annotation.__name__
    return re.sub(r"\btyping\.", "", str(annotation))


def _models(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _models(arg)


def _default(info: Any) -> str:
    if info.is_required():
        return "required"
    value = info.default_factory() if info.default_factory is not None else info.default
    if isinstance(value, BaseModel):
        return "see below"
    return "`null`" if value is None else f"`{value!r}`"


def _section(model: type[BaseModel]) -> list[str]:
    lines = [f"## `{model.__name__}`", ""]
    if model.__doc__:
        lines += [" ".join(model.__doc__.split()), ""]
    lines += ["| field | type | default | what it is |", "| --- | --- | --- | --- |"]
    for name, info in model.model_fields.items():
        text = " ".join((info.description or "").split()).replace("|", "\\|")
        lines.append(f"| `{name}` | {_type_name(info.annotation)} | {_default(info)} | {text} |")
    return [*lines, ""]


def render_reference() -> str:
    """The whole page: every model reachable from ``Service`` and ``Datacenter``, in reading order."""
    seen: list[type[BaseModel]] = []
    queue: list[type[BaseModel]] = [Service, Datacenter]
    while queue:
        model = queue.pop(0)
        if model in seen:
            continue
        seen.append(model)
        for info in model.model_fields.values():
            queue.extend(m for m in _models(info.annotation) if m not in seen)
    body = [line for model in seen for line in _section(model)]
    return _HEAD + "\n" + "\n".join(body).rstrip() + "\n"


if __name__ == "__main__":
    PAGE.write_text(render_reference(), encoding="utf-8")
    sys.stdout.write(f"wrote {PAGE}\n")
