"""A sticker's two ArUco markers: one out from its top-left corner, one out from its bottom-right (diagonally,
as a patch's four sit: printing/export_sheet.py corner_positions). Two markers are the fewest that locate a piece
(their eight corners fit a homography); at opposite corners their corners span the whole piece, so the fit holds
across it rather than only near one edge. Cut on the outer marks, a sticker keeps its markers and `capture/`
finds it by them; cut on the inner marks (the piece alone), by its own image.

Geometry in millimetres from the piece's top-left corner, as the sidecar's `pieces[k].marker_layout` says it."""

from __future__ import annotations

import numpy as np

from printing.export_sheet import corner_positions
from printing.markers import MARKER_CELLS, marker_layout
from printing.sheet import Raster, Sheet, crop_marks, marker_rects

# A marker is 30 % of the piece's side, within 8-60 mm: 8 mm (1.3 mm cells) still reads at about 4 px per mm in a
# photo. Stickers on a person are seen at about 0.5 px per mm (a 1.75 m person over a 1080 px frame): there 25 mm
# markers (2 px cells) were found for 2 % of the pieces (benchmarks/capture.py), so a 187 mm piece gets 56 mm.
MARKER_SHARE, MARKER_MIN_MM, MARKER_MAX_MM = 0.3, 8.0, 60.0
OUTER_MARK_OFFSET_MM, OUTER_MARK_MM = 1.5, 3.0  # the outer crop marks: past the quiet zone, this long


def marker_geometry(side_mm: float) -> tuple[float, float, float]:
    """(marker side, gap from the piece, quiet zone past the marker) in mm. The gap and the quiet zone are over
    one marker cell: a detector needs white round the black square, and the piece is not white."""
    side = float(np.clip(MARKER_SHARE * side_mm, MARKER_MIN_MM, MARKER_MAX_MM))
    cell = side / MARKER_CELLS
    return side, max(2.0, 1.5 * cell), 1.5 * cell


def piece_markers(side_mm: float, marker_ids) -> list[tuple]:
    """[(id, x, y, side)] of the piece's two markers (TL, BR), (x, y) each black square's top-left corner."""
    side, gap, _ = marker_geometry(side_mm)
    tl, _, br, _ = corner_positions(side_mm, side_mm, side, gap)
    return [(marker_ids[0], *tl, side), (marker_ids[1], *br, side)]


def piece_layout(side_mm: float, marker_ids) -> dict:
    """The piece's marker layout (printing/markers.py), its frame the piece: what capture fits."""
    return marker_layout((side_mm, side_mm), piece_markers(side_mm, marker_ids))


def outer_square(side_mm: float) -> tuple[float, float]:
    """(start, length) of the square that holds the piece, its markers and their quiet zone: the sticker cut
    with its markers, on both axes."""
    side, gap, quiet = marker_geometry(side_mm)
    reach = gap + side + quiet
    return -reach, side_mm + 2 * reach


def piece_pad(side_mm: float) -> float:
    """Room round a piece's square on the page: its markers, their quiet zone and the outer crop marks."""
    return -outer_square(side_mm)[0] + OUTER_MARK_OFFSET_MM + OUTER_MARK_MM + 0.5


def add_markers(sheet: Sheet, x: float, y: float, side_mm: float, marker_ids) -> None:
    """The piece's markers and outer crop marks, for its square at (x, y) on `sheet`."""
    for marker_id, mx, my, side in piece_markers(side_mm, marker_ids):
        sheet.add(*marker_rects(marker_id, x + mx, y + my, side))
    start, length = outer_square(side_mm)
    sheet.add(*crop_marks(x + start, y + start, length, length, offset=OUTER_MARK_OFFSET_MM, length=OUTER_MARK_MM))


def marked_sheet(rgb: np.ndarray, side_mm: float, marker_ids) -> tuple[Sheet, float]:
    """The piece (on paper) with its two markers, its top-left at the origin, for the marked PNG; and the margin
    (the quiet zone) to render round it, so that the PNG is exactly the sticker cut with its markers."""
    sheet = Sheet()
    sheet.add(Raster(0.0, 0.0, side_mm, side_mm, rgb))
    for marker_id, mx, my, side in piece_markers(side_mm, marker_ids):
        sheet.add(*marker_rects(marker_id, mx, my, side))
    return sheet, marker_geometry(side_mm)[2]
