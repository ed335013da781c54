"""The export sheet: the artifact at its physical size, four ArUco markers just outside its corners, crop marks,
a scale bar and a caption. Returns the sheet and the marker layout that `capture/` uses to find the artifact."""

from __future__ import annotations

import numpy as np

from printing.markers import marker_layout
from printing.sheet import FONT, Raster, Sheet, Text, crop_marks, marker_rects, scale_bar, text_width


def marker_geometry(width_mm: float, height_mm: float) -> tuple[float, float]:
    """(side, gap) in mm: markers grow with the artifact (to be seen from further away) within 12-40 mm; the gap
    leaves a white quiet zone wider than one marker cell and room for the crop marks."""
    side = float(np.clip(0.1 * max(width_mm, height_mm), 12.0, 40.0))
    gap = max(7.0, side / 4)
    return side, gap


CAPTION_MM = 2.8


def corner_positions(width_mm: float, height_mm: float, side: float, gap: float) -> list[tuple[float, float]]:
    """Top-left corners of four `side` mm markers just outside a w x h rectangle's corners, `gap` mm off it on
    both axes (diagonally out): TL, TR, BR, BL. Every print's markers sit so: the patch's, a texture sheet's, a
    sticker's (two of them)."""
    near, far_x, far_y = -gap - side, width_mm + gap, height_mm + gap
    return [(near, near), (far_x, near), (far_x, far_y), (near, far_y)]


def wrap_caption(parts: list[str], width_mm: float, size: float = CAPTION_MM) -> list[str]:
    """Join caption parts with ' | ' into lines no wider than `width_mm`, measured in the PDF's font; a part wider
    than a line goes on lines of its own, split between words (reportlab's simpleSplit), a word wider than a line
    between characters. Nothing is cut: the caption is the print's record."""
    from reportlab.lib.utils import simpleSplit

    def fits(text: str) -> bool:
        return text_width(text, size) <= width_mm

    lines, line = [], ""
    for part in parts:
        candidate = f"{line} | {part}" if line else part
        if fits(candidate):
            line = candidate
            continue
        lines += [line] if line else []
        pieces = [piece for words in simpleSplit(part, FONT, size, width_mm)
                  for piece in by_characters(words, fits)]
        lines += pieces[:-1]
        line = pieces[-1] if pieces else ""
    return lines + ([line] if line else [])


def by_characters(text: str, fits) -> list[str]:
    """text as the longest runs of characters that fit (itself when it fits whole)."""
    pieces = []
    while len(text) > 1 and not fits(text):
        cut = next((n for n in range(len(text) - 1, 1, -1) if fits(text[:n])), 1)
        pieces.append(text[:cut])
        text = text[cut:]
    return pieces + [text]


def build_export_sheet(rgb: np.ndarray, width_mm: float, height_mm: float, caption,
                       marker_ids) -> tuple[Sheet, dict]:
    """`rgb`: (H, W, 3) uint8 artifact already composited on white paper; `caption`: a string or a list of parts
    (wrapped to the sheet's width); `marker_ids`: four ids, TL TR BR BL (printing/run_exports.py hands them out)."""
    side, gap = marker_geometry(width_mm, height_mm)
    w, h = float(width_mm), float(height_mm)
    near = -gap - side
    positions = corner_positions(w, h, side, gap)
    markers = [(mid, x, y, side) for mid, (x, y) in zip(marker_ids, positions, strict=True)]

    sheet = Sheet()
    sheet.add(Raster(0.0, 0.0, w, h, rgb))
    for mid, x, y, s in markers:
        sheet.add(*marker_rects(mid, x, y, s))
    sheet.add(*crop_marks(0.0, 0.0, w, h, offset=1.5, length=min(5.0, gap - 1.5)))

    # Below the bottom markers: the scale bar, then the caption, left-aligned with the markers.
    below = h + gap + side + 5.0
    bar = 100.0 if w + 2 * (gap + side) >= 130.0 else 50.0
    sheet.add(*scale_bar(near, below, bar))
    parts = [caption] if isinstance(caption, str) else list(caption)
    for i, line in enumerate(wrap_caption(parts, w + 2 * (gap + side))):
        sheet.add(Text(near, below + 9.0 + i * 1.5 * CAPTION_MM, line, size=CAPTION_MM))
    layout = marker_layout((w, h), markers)
    return sheet, layout
