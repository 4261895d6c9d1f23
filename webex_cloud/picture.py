"""One picture of a stack's placement, drawn the same way for what would be (`place`) and what is (`audit`).

Compute hosts are columns with the pods on them; storage failure domains are columns with the replicas in
them; a mark that breaks a placement rule is drawn red (class ``violation``). Columns come in the stack
file's order, so the two pictures of one stack line up; a host or domain the plan does not list (an unknown
host, a ``hostId`` seen without admin, a stray backend) is appended after them, and what is on no host at
all is listed under the columns. Standard-library XML only: names are escaped by ElementTree and the same
input always gives the same bytes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from webex_cloud import atomic

SVG_NS: Final = "http://www.w3.org/2000/svg"
VIOLATION_FILL: Final = "#fde0e0"
VIOLATION_STROKE: Final = "#d00000"
#: Fill per service, assigned in sorted service order (colour-blind-safe Okabe-Ito tints).
PALETTE: Final = ("#cfe5f5", "#fbe3c2", "#cdeee2", "#f5f0b8", "#d8d1ec", "#f6d3e4", "#dde3e8", "#e6d7c3")
COLUMN_WIDTH: Final = 200
MARK_HEIGHT: Final = 20
GAP: Final = 8
HEADER: Final = 24


@dataclass(frozen=True)
class Mark:
    """A pod on a host, or a replica in a failure domain."""

    label: str
    service: str
    kind: str
    """``pod`` or ``replica`` (or ``instance``/``volume`` for a resource the catalog does not expect)."""
    violation: bool = False
    detail: str = ""
    """Tooltip: the UUIDs and what is wrong."""


@dataclass(frozen=True)
class Column:
    name: str
    marks: tuple[Mark, ...]
    planned: bool = True
    """False for a host or domain the stack file does not list."""


@dataclass(frozen=True)
class Picture:
    title: str
    hosts: tuple[Column, ...]
    domains: tuple[Column, ...]
    notes: tuple[tuple[str, bool], ...] = ()
    """Lines under the columns: (text, is a violation)."""


def columns(planned: Iterable[str], marks: Mapping[str, Iterable[Mark]]) -> tuple[Column, ...]:
    """The planned columns in their order (even when empty), then every other one that holds a mark."""
    planned = list(planned)
    extra = sorted(set(marks) - set(planned))
    return tuple(
        Column(name, tuple(sorted(marks.get(name, ()), key=lambda m: (m.service, m.label))), name in planned)
        for name in [*planned, *extra]
    )


def _text(
    parent: ET.Element,
    x: float,
    y: float,
    text: str,
    *,
    size: int = 11,
    bold: bool = False,
    red: bool = False,
) -> ET.Element:
    style = f"font-family:monospace;font-size:{size}px" + (";font-weight:bold" if bold else "")
    attrs = {"x": f"{x:g}", "y": f"{y:g}", "style": style}
    if red:
        attrs.update({"fill": VIOLATION_STROKE, "class": "violation"})
    element = ET.SubElement(parent, "text", attrs)
    element.text = text
    return element


def _row(
    parent: ET.Element, label: str, kind: str, cols: tuple[Column, ...], top: float, fill: dict[str, str]
) -> float:
    _text(parent, GAP, top + 14, label, bold=True)
    top += HEADER
    height = max((len(c.marks) for c in cols), default=0) * (MARK_HEIGHT + 4) + HEADER + GAP
    for index, column in enumerate(cols):
        x = GAP + index * (COLUMN_WIDTH + GAP)
        group = ET.SubElement(parent, "g", {"class": kind, "data-name": column.name})
        ET.SubElement(
            group,
            "rect",
            {
                "x": f"{x}",
                "y": f"{top:g}",
                "width": f"{COLUMN_WIDTH}",
                "height": f"{height:g}",
                "fill": "#ffffff" if column.planned else "#f4f4f4",
                "stroke": "#555555",
                **({} if column.planned else {"stroke-dasharray": "4 3"}),
            },
        )
        _text(group, x + 6, top + 16, column.name if column.planned else f"{column.name} (not in plan)")
        for row, mark in enumerate(column.marks):
            y = top + HEADER + row * (MARK_HEIGHT + 4)
            item = ET.SubElement(
                group,
                "g",
                {
                    "class": f"{mark.kind} violation" if mark.violation else mark.kind,
                    "data-name": mark.label,
                    "data-service": mark.service,
                },
            )
            ET.SubElement(item, "title").text = mark.detail or mark.label
            ET.SubElement(
                item,
                "rect",
                {
                    "x": f"{x + 6}",
                    "y": f"{y:g}",
                    "width": f"{COLUMN_WIDTH - 12}",
                    "height": f"{MARK_HEIGHT}",
                    "rx": "3",
                    "fill": VIOLATION_FILL if mark.violation else fill.get(mark.service, PALETTE[-1]),
                    "stroke": VIOLATION_STROKE if mark.violation else "#777777",
                    "stroke-width": "2" if mark.violation else "1",
                },
            )
            _text(item, x + 10, y + 14, mark.label, red=mark.violation)
    return top + height + GAP


def render(picture: Picture) -> str:
    """The SVG document of a picture."""
    services = sorted({m.service for c in (*picture.hosts, *picture.domains) for m in c.marks})
    fill = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(services)}
    width = GAP + max(len(picture.hosts), len(picture.domains), 1) * (COLUMN_WIDTH + GAP)
    body = ET.Element("g")
    _text(body, GAP, 18, picture.title, size=14, bold=True)
    top = _row(body, "compute hosts: pods", "host", picture.hosts, 28, fill)
    top = _row(body, "storage failure domains: replicas", "domain", picture.domains, top, fill)
    notes = ET.SubElement(body, "g", {"class": "notes"})
    for line, bad in picture.notes:
        top += 16
        _text(notes, GAP, top, line, red=bad)
    root = ET.Element(
        "svg",
        {
            "xmlns": SVG_NS,
            "width": f"{width}",
            "height": f"{top + GAP + 8:g}",
            "viewBox": f"0 0 {width} {top + GAP + 8:g}",
        },
    )
    root.append(body)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write(picture: Picture, path: Path) -> None:
    """Write the SVG atomically: a failed write leaves the previous picture (raises atomic.OutputError)."""
    atomic.write_text(path, render(picture))
