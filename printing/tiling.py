"""Put a sheet on paper: one page when it fits (portrait or landscape), else tiles that overlap by a strip the
user glues over, with alignment marks printed in the strips (outside the artifact) on both neighbouring pages."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from patchgen.errors import UserError
from printing.sheet import Circle, Raster, Rect, Sheet, Text, alignment_mark

PAGE_MARGIN_MM = 6.0  # most printers cannot print the outer 3-5 mm of a page
TILE_OVERLAP_MM = 15.0


@dataclass(frozen=True)
class Tile:
    """One page: the sheet window [x0, x0+w) x [y0, y0+h) drawn at (margin, margin) on a page of page_w x page_h."""
    row: int
    col: int
    x0: float
    y0: float
    w: float
    h: float
    page_w: float
    page_h: float
    margin: float


@dataclass(frozen=True)
class PageLayout:
    tiles: list
    rows: int
    cols: int
    overlap_mm: float

    @property
    def tiled(self) -> bool:
        return len(self.tiles) > 1


def _grid(extent: float, usable: float, overlap: float) -> int:
    return 1 if extent <= usable else math.ceil((extent - overlap) / (usable - overlap))


def plan_pages(sheet: Sheet, paper_mm: tuple[float, float], allow_tiling: bool = True,
               margin: float = PAGE_MARGIN_MM, overlap: float = TILE_OVERLAP_MM) -> PageLayout:
    x0, y0, x1, y1 = sheet.bounds()
    sw, sh = x1 - x0, y1 - y0
    options = []
    for pw, ph in (paper_mm, paper_mm[::-1]):  # portrait first, landscape when it needs fewer pages
        uw, uh = pw - 2 * margin, ph - 2 * margin
        cols, rows = _grid(sw, uw, overlap), _grid(sh, uh, overlap)
        options.append((cols * rows, (pw, ph), uw, uh, cols, rows))
    pages, (pw, ph), uw, uh, cols, rows = min(options, key=lambda o: o[0])
    if pages > 1 and not allow_tiling:
        raise UserError(f"the print ({sw:.0f} x {sh:.0f} mm with its markers and caption) does not fit on one "
                        f"{paper_mm[0]:.0f} x {paper_mm[1]:.0f} mm page; drop --no-tile to tile it over "
                        f"{pages} pages, or choose a larger --paper or a smaller --size")
    if pages == 1:
        # Centre the sheet on the page.
        ox, oy = x0 - (uw - sw) / 2, y0 - (uh - sh) / 2
        return PageLayout([Tile(0, 0, ox, oy, uw, uh, pw, ph, margin)], 1, 1, 0.0)
    # Fixed step, so neighbouring pages overlap by exactly `overlap`; the tiled area is centred on the sheet.
    step_x, step_y = uw - overlap, uh - overlap
    start_x = x0 - ((cols - 1) * step_x + uw - sw) / 2
    start_y = y0 - ((rows - 1) * step_y + uh - sh) / 2
    tiles = [Tile(r, c, start_x + c * step_x, start_y + r * step_y, uw, uh, pw, ph, margin)
             for r in range(rows) for c in range(cols)]
    return PageLayout(tiles, rows, cols, overlap)


def check_page_count(pages: int, max_pages: int, what: str, paper: str) -> None:
    """A print of more than --max-pages pages is refused with its count: a size in the wrong unit is thousands."""
    if pages > max_pages:
        raise UserError(f"{what} needs {pages} {paper} pages, more than --max-pages {max_pages}: pass --max-pages "
                        f"{pages} to make them, or choose a larger --paper or a smaller --size")


def _keep_out(sheet: Sheet) -> list[tuple[float, float, float, float]]:
    """Boxes where an alignment mark would spoil something: the artifact, markers, text."""
    boxes = []
    for it in sheet.items:
        if isinstance(it, (Raster, Rect)):
            boxes.append((it.x, it.y, it.x + it.w, it.y + it.h))
        elif isinstance(it, Text):
            boxes.append(Sheet([it]).bounds())
    return boxes


def _free(cx, cy, r, boxes) -> bool:
    return all(cx + r < b[0] or cx - r > b[2] or cy + r < b[1] or cy - r > b[3] for b in boxes)


def alignment_marks(sheet: Sheet, layout: PageLayout, radius: float = 2.5) -> list:
    """Marks centred in each overlap strip, at free spots above/below (or left/right of) the artifact, so both
    pages of a seam carry the same marks. Returns sheet items (added to the sheet by the caller)."""
    if not layout.tiled:
        return []
    x0, y0, x1, y1 = sheet.bounds()
    boxes = [(b[0] - 1, b[1] - 1, b[2] + 1, b[3] + 1) for b in _keep_out(sheet)]
    tiles = {(t.row, t.col): t for t in layout.tiles}
    marks = []
    for c in range(1, layout.cols):  # vertical seams
        left, right = tiles[(0, c - 1)], tiles[(0, c)]
        cx = (right.x0 + left.x0 + left.w) / 2
        candidates = list(np.arange(y0 + 2 * radius, y1 - 2 * radius, 2.0))
        marks += _spread(cx, candidates, radius, boxes, vertical=True)
    for r in range(1, layout.rows):  # horizontal seams
        top, bottom = tiles[(r - 1, 0)], tiles[(r, 0)]
        cy = (bottom.y0 + top.y0 + top.h) / 2
        candidates = list(np.arange(x0 + 2 * radius, x1 - 2 * radius, 2.0))
        marks += _spread(cy, candidates, radius, boxes, vertical=False)
    return marks


def _spread(fixed, candidates, radius, boxes, vertical):
    """Pick up to 3 free positions along a seam: first, last, and middle-most."""
    free = [v for v in candidates if _free(*((fixed, v) if vertical else (v, fixed)), 1.6 * radius, boxes)]
    if not free:
        return []
    picks = {float(free[0]), float(free[-1]), float(min(free, key=lambda v: abs(v - (free[0] + free[-1]) / 2)))}
    items = []
    for v in sorted(picks):
        items += alignment_mark(*((fixed, v) if vertical else (v, fixed)), r=radius)
    return items


def mark_centres(items) -> list[tuple[float, float]]:
    return [(it.cx, it.cy) for it in items if isinstance(it, Circle)]

