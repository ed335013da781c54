"""A *sheet*: what goes on paper, as a few vector primitives in millimetres (x right, y down).

The same sheet is drawn by two renderers (`pdf_render` for PDF, `raster_render` for a PNG at a DPI) and split
over pages by `tiling`, so the geometry (and the marker layout written to the sidecar) is decided once, here.
The origin is the artifact's top-left corner, the origin of the marker layout too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from printing.markers import MARKER_CELLS, draw_marker

# the PDF's font; the PNG's (PIL's default, Aileron) runs ~3 % narrower, so a line that fits one fits both
FONT = "Helvetica"


def text_width(text: str, size: float) -> float:
    """The text's width in mm at `size` mm, in FONT."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    return stringWidth(text, FONT, 1) * size


@dataclass(frozen=True)
class Raster:
    x: float
    y: float
    w: float
    h: float
    rgb: np.ndarray  # (H, W, 3) uint8, shown stretched over exactly w x h millimetres


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    fill: tuple = (0, 0, 0)  # RGB 0..255


@dataclass(frozen=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    width: float = 0.2


@dataclass(frozen=True)
class Circle:
    cx: float
    cy: float
    r: float
    width: float = 0.2


@dataclass(frozen=True)
class Text:
    x: float
    y: float  # baseline
    text: str
    size: float = 3.0  # cap-to-descender height in mm, roughly the font size
    anchor: str = "left"  # or "middle"


@dataclass
class Sheet:
    items: list = field(default_factory=list)

    def add(self, *items) -> None:
        self.items.extend(items)

    def bounds(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) covering every item (text approximated by its box)."""
        xs, ys = [], []
        for it in self.items:
            if isinstance(it, (Raster, Rect)):
                xs += [it.x, it.x + it.w]
                ys += [it.y, it.y + it.h]
            elif isinstance(it, Line):
                xs += [it.x1, it.x2]
                ys += [it.y1, it.y2]
            elif isinstance(it, Circle):
                xs += [it.cx - it.r, it.cx + it.r]
                ys += [it.cy - it.r, it.cy + it.r]
            elif isinstance(it, Text):
                width = text_width(it.text, it.size)
                x0 = it.x - width / 2 if it.anchor == "middle" else it.x
                xs += [x0, x0 + width]
                ys += [it.y - it.size, it.y + 0.3 * it.size]
        return min(xs), min(ys), max(xs), max(ys)


def marker_rects(marker_id: int, x: float, y: float, side: float) -> list[Rect]:
    """The marker as black cell rectangles: vector edges stay sharp at any print resolution."""
    bits = draw_marker(marker_id, MARKER_CELLS)
    cell = side / MARKER_CELLS
    rects = []
    for row in range(MARKER_CELLS):
        col = 0
        while col < MARKER_CELLS:  # merge runs of black cells in a row: fewer shapes, no hairline seams
            if bits[row, col] < 128:
                start = col
                while col < MARKER_CELLS and bits[row, col] < 128:
                    col += 1
                rects.append(Rect(x + start * cell, y + row * cell, (col - start) * cell, cell))
            else:
                col += 1
    return rects


def crop_marks(x: float, y: float, w: float, h: float, offset: float = 1.5, length: float = 5.0,
               width: float = 0.15) -> list[Line]:
    """Trim lines on the extensions of the rectangle's edges, starting `offset` mm away from its corners."""
    lines = []
    for cx, sx in ((x, -1), (x + w, 1)):
        for cy, sy in ((y, -1), (y + h, 1)):
            lines.append(Line(cx + sx * offset, cy, cx + sx * (offset + length), cy, width))
            lines.append(Line(cx, cy + sy * offset, cx, cy + sy * (offset + length), width))
    return lines


def scale_bar(x: float, y: float, length: float = 100.0, height: float = 3.0) -> list:
    """A ruler `length` mm long with a tick every 10 mm (every 5 below 50 mm), labelled; (x, y) its top-left."""
    step = 10.0 if length >= 50 else 5.0
    items = [Line(x, y + height, x + length, y + height, 0.25)]
    n = int(round(length / step))
    for i in range(n + 1):
        tall = i == 0 or i == n or (i * step) % 50 == 0
        items.append(Line(x + i * step, y + height, x + i * step, y + (0 if tall else height / 2), 0.25))
    items.append(Text(x + length + 2.0, y + height, f"{length:g} mm", size=2.5))
    return items


def alignment_mark(cx: float, cy: float, r: float = 2.5) -> list:
    """A circle with a cross: two pages are aligned when their copies of this mark coincide."""
    return [Circle(cx, cy, r, 0.15), Line(cx - 1.6 * r, cy, cx + 1.6 * r, cy, 0.15),
            Line(cx, cy - 1.6 * r, cx, cy + 1.6 * r, 0.15)]
