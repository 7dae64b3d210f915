"""Components of a screenshot: merge region proposals with OCR lines, nest by containment, and
render the low-code componentsMap / componentsTree."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from raysight.services.imgseg.regions import Box, Region, contains, intersection, iou

# Types whose text belongs to them (a button's caption, an input's placeholder) rather than being
# child Text components; children of an Image are pixels, not widgets.
TEXT_OWNERS = frozenset({"Button", "Input"})
LEAVES = frozenset({"Button", "Input", "Image", "Text"})


@dataclass
class TextLine:
    box: Box
    text: str
    score: float = 1.0
    color: list[int] | None = None
    background: list[int] | None = None


@dataclass
class Component:
    box: Box
    source: str
    type: str = ""
    confidence: float = 0.0
    texts: list[TextLine] = field(default_factory=list)
    name: str = ""
    background: list[int] | None = None
    color: list[int] | None = None
    children: list[Component] = field(default_factory=list)
    parent: Component | None = None

    @property
    def area(self) -> int:
        return max(0, self.box[2] - self.box[0]) * max(0, self.box[3] - self.box[1])

    @property
    def text(self) -> str:
        lines = sorted(self.texts, key=lambda t: (round(t.box[1] / 8), t.box[0]))
        return " ".join(t.text for t in lines)


def merge(regions: list[Region], lines: list[TextLine]) -> list[Component]:
    """Candidate components: region proposals that are not just text (a proposal lying inside or
    matching an OCR line is that line's glyphs), plus one component per text line."""
    comps: list[Component] = []
    for r in regions:
        is_text = any(
            contains(t.box, r.box, 0.8) or iou(t.box, r.box) > 0.5
            or (contains(r.box, t.box, 0.9) and r.area < 2.2 * _area(t.box))
            for t in lines
        )
        if not is_text:
            comps.append(Component(box=r.box, source=r.source, confidence=r.score))
    for t in lines:
        comps.append(Component(box=t.box, source="ocr", type="Text", confidence=t.score, texts=[t],
                               color=t.color, background=t.background))
    return comps


def _area(b: Box) -> int:
    return max(0, b[2] - b[0]) * max(0, b[3] - b[1])


def assign_text(comps: list[Component], lines: list[TextLine]) -> None:
    """Every widget (non-OCR component) gets the text lines lying inside it."""
    for c in comps:
        if c.source == "ocr":
            continue
        c.texts = [t for t in lines if contains(c.box, t.box, 0.7)]


def nest(comps: list[Component]) -> list[Component]:
    """Parent = the smallest other component containing it (>= 90% of its area). Returns roots."""
    ordered = sorted(comps, key=lambda c: c.area)
    for c in ordered:
        c.children, c.parent = [], None
    for i, c in enumerate(ordered):
        for cand in ordered[i + 1:]:
            if cand.area > c.area and contains(cand.box, c.box, 0.9):
                c.parent = cand
                break
    roots = []
    for c in sorted(comps, key=lambda c: (c.box[1], c.box[0])):
        (c.parent.children if c.parent else roots).append(c)
    return roots


def prune(comps: list[Component]) -> list[Component]:
    """Drop what the types make redundant: texts owned by a Button/Input, anything inside an Image
    or a Text, and a box that only wraps one child almost exactly."""
    nest(comps)
    drop: set[int] = set()
    for c in comps:
        p = c.parent
        while p is not None:
            if p.type == "Image" or p.type == "Text" or (p.type in TEXT_OWNERS and c.type == "Text"):
                drop.add(id(c))
                break
            if p.type in TEXT_OWNERS and c.type not in ("Text",):
                drop.add(id(c))
                break
            p = p.parent
    kept = [c for c in comps if id(c) not in drop]
    nest(kept)
    return kept


def name_all(comps: list[Component]) -> None:
    counters: dict[str, int] = {}
    for c in sorted(comps, key=lambda c: (c.box[1], c.box[0])):
        counters[c.type] = counters.get(c.type, 0) + 1
        c.name = f"{c.type}-{counters[c.type]}"


def mean_color(image: np.ndarray, box: Box) -> list[int]:
    x1, y1, x2, y2 = box
    crop = image[y1:y2, x1:x2]
    if crop.size == 0:
        return [0, 0, 0]
    return [int(v) for v in np.round(crop.reshape(-1, 3).mean(axis=0))]


def style(c: Component) -> dict[str, Any]:
    x1, y1, x2, y2 = c.box
    out: dict[str, Any] = {"left": int(x1), "top": int(y1), "width": int(x2 - x1), "height": int(y2 - y1)}
    if c.background is not None:
        out["backgroundColor"] = _css(c.background)
    if c.color is not None:
        out["color"] = _css(c.color)
    return out


def _css(rgb: list[int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*[max(0, min(255, int(v))) for v in rgb[:3]])


def components_map(comps: list[Component]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for c in sorted(comps, key=lambda c: (c.box[1], c.box[0])):
        props: dict[str, Any] = {"style": style(c)}
        if c.text:
            props["text"] = c.text
        out[c.name] = {
            "component_name": c.name,
            "component_type": c.type,
            "props": props,
            "confidence": round(float(c.confidence), 4),
            "source": c.source,
            "parent": c.parent.name if c.parent else "page",
        }
    return out


def components_tree(roots: list[Component], width: int, height: int) -> dict[str, Any]:
    def node(c: Component) -> dict[str, Any]:
        return {"id": c.name, "component_type": c.type, "children": [node(ch) for ch in c.children]}

    return {"id": "page", "component_type": "Page", "props": {"style": {"left": 0, "top": 0, "width": width,
                                                                        "height": height}},
            "children": [node(r) for r in roots]}


def overlap(a: Box, b: Box) -> float:
    """Intersection over the smaller box."""
    small = min(_area(a), _area(b))
    return intersection(a, b) / small if small else 0.0
