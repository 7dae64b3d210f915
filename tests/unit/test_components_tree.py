"""Proposals, nesting by containment, pruning and the components map/tree."""

from __future__ import annotations

from raysight.services.imgseg.components import (
    Component,
    TextLine,
    assign_text,
    components_map,
    components_tree,
    merge,
    name_all,
    nest,
    prune,
)
from raysight.services.imgseg.regions import Region, propose
from tests.imgseg_gen import iou, screenshot


def test_nesting_by_containment() -> None:
    page = Component(box=(0, 0, 1000, 800), source="color", type="Container")
    card = Component(box=(100, 100, 500, 500), source="edges", type="Container")
    button = Component(box=(120, 400, 300, 450), source="edges", type="Button")
    other = Component(box=(600, 100, 900, 200), source="edges", type="Image")
    roots = nest([button, other, card, page])
    assert roots == [page]
    assert card.parent is page and button.parent is card and other.parent is page
    name_all([page, card, button, other])
    tree = components_tree(roots, 1000, 800)
    assert tree["id"] == "page"
    assert tree["children"][0]["id"] == "Container-1"
    assert [c["id"] for c in tree["children"][0]["children"]] == ["Container-2", "Image-1"]
    assert tree["children"][0]["children"][0]["children"][0]["id"] == "Button-1"


def test_text_folds_into_buttons_and_map_shape() -> None:
    lines = [TextLine((150, 410, 250, 440), "Submit"), TextLine((20, 20, 200, 50), "Title")]
    comps = merge([Region((120, 400, 300, 450), "edges"), Region((152, 412, 190, 438), "color")], lines)
    assert len(comps) == 3  # the glyph block inside the text line is dropped
    comps[0].type = "Button"
    assign_text(comps, lines)
    kept = prune(comps)
    name_all(kept)
    cmap = components_map(kept)
    assert set(cmap) == {"Button-1", "Text-1"}
    assert cmap["Button-1"]["props"]["text"] == "Submit"
    assert cmap["Button-1"]["props"]["style"] == {"left": 120, "top": 400, "width": 180, "height": 50}
    assert cmap["Button-1"]["component_type"] == "Button"


def test_proposals_find_drawn_widgets() -> None:
    image, widgets = screenshot()
    regions = propose(image)
    for w in widgets:
        if w.type == "Text":
            continue  # text comes from OCR
        assert max(iou(w.box, r.box) for r in regions) > 0.8, w
