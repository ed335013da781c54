"""The colour calibration chart: a grid of colour cells spanning the RGB gamut, ArUco markers around it, row
letters and column numbers naming each cell (A1, B7, ...). Its *spec* (marker layout, each cell's rectangle and
digital colour, which cells are held out of the fit) is deterministic, so a photo can be read without the file
`patchgen calibrate chart` wrote; that file is still written, for the record and for custom charts."""

from __future__ import annotations

import json
import string
from pathlib import Path

import numpy as np

from patchgen.errors import UserError

from printing.markers import marker_layout
from printing.sheet import Rect, Sheet, Text, crop_marks, marker_rects, scale_bar

CHART_VERSION = 1
# Ids 40+ so a chart is never mistaken for an export (ids 0-39); six markers so a corner may be lost or shaded.
CHART_MARKER_IDS = (40, 41, 42, 43, 44, 45)
CHART_MIN_MARKERS = 3


def _halton(n: int, base: int) -> np.ndarray:
    out = np.zeros(n)
    for i in range(n):
        f, k, x = 1.0, i + 1, 0.0
        while k > 0:
            f /= base
            x += f * (k % base)
            k //= base
        out[i] = x
    return out


def chart_colours(n_cells: int) -> np.ndarray:
    """(n, 3) digital colours in [0,1]: the 5x5x5 RGB cube (corners and edges of the gamut), a gray ramp, and a
    low-discrepancy (Halton) fill of the interior. Deterministic."""
    levels = np.linspace(0, 1, 5)
    cube = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), -1).reshape(-1, 3)
    grays = np.repeat(np.linspace(1 / 16, 15 / 16, 15)[:, None], 3, axis=1)
    fill = n_cells - len(cube) - len(grays)
    if fill < 0:
        raise ValueError(f"a chart needs at least {len(cube) + len(grays)} cells")
    halton = np.stack([_halton(fill, 2), _halton(fill, 3), _halton(fill, 5)], -1)
    return np.round(np.concatenate([cube, grays, halton]) * 255) / 255


def chart_spec(cols: int = 15, rows: int = 19, cell_mm: float = 9.0, gap_mm: float = 1.5,
               heldout_every: int = 5) -> dict:
    """Geometry and colours. Colours are placed in a fixed pseudo-random order, so uneven light across the page
    does not line up with hue or lightness; every `heldout_every`-th colour is held out to measure the fit."""
    n = cols * rows
    colours = chart_colours(n)
    order = np.random.default_rng(20240601).permutation(n)  # fixed: part of the chart's definition
    pitch = cell_mm + gap_mm
    grid_w, grid_h = cols * pitch - gap_mm, rows * pitch - gap_mm
    cells = []
    for slot, colour_index in enumerate(order):
        r, c = divmod(slot, cols)
        cells.append({"id": f"{string.ascii_uppercase[r]}{c + 1}",
                      "rect_mm": [round(c * pitch, 4), round(r * pitch, 4), cell_mm, cell_mm],
                      "rgb": [round(float(v), 6) for v in colours[colour_index]],
                      "heldout": bool(colour_index % heldout_every == heldout_every - 1)})
    side, gap = 12.0, 8.0  # the label band sits in the gap, so it is wider than an export's
    near, far_x, far_y = -gap - side, grid_w + gap, grid_h + gap
    mid_y = (grid_h - side) / 2
    positions = [(near, near), (far_x, near), (far_x, far_y), (near, far_y), (near, mid_y), (far_x, mid_y)]
    markers = [(mid, x, y, side) for mid, (x, y) in zip(CHART_MARKER_IDS, positions)]
    return {"artifact": "calibration_chart", "version": CHART_VERSION, "grid": [cols, rows],
            "cell_mm": cell_mm, "gap_mm": gap_mm, "marker_layout": marker_layout((grid_w, grid_h), markers),
            "cells": cells}


def chart_sheet(spec: dict, title: str = "") -> Sheet:
    sheet = Sheet()
    layout = spec["marker_layout"]
    grid_w, grid_h = layout["artifact_size_mm"]
    for cell in spec["cells"]:
        x, y, w, h = cell["rect_mm"]
        sheet.add(Rect(x, y, w, h, tuple(int(round(v * 255)) for v in cell["rgb"])))
    for marker in layout["markers"]:
        (x0, y0), (x1, _y) = marker["corners_mm"][0], marker["corners_mm"][1]
        sheet.add(*marker_rects(marker["id"], x0, y0, x1 - x0))
    cols, rows = spec["grid"]
    pitch = spec["cell_mm"] + spec["gap_mm"]
    for c in range(cols):
        sheet.add(Text(c * pitch + spec["cell_mm"] / 2, -2.0, str(c + 1), size=2.6, anchor="middle"))
    for r in range(rows):
        sheet.add(Text(-5.0, r * pitch + spec["cell_mm"] / 2 + 1.0, string.ascii_uppercase[r], size=2.6))
    sheet.add(*crop_marks(-1.0, -1.0, grid_w + 2.0, grid_h + 2.0, offset=1.0, length=3.0))
    top = layout["markers"][0]["corners_mm"][0]
    lines = [title or f"patchgen colour calibration chart v{spec['version']}",
             "Print at 100% scale, colour management off. Photograph flat, evenly lit, all markers in view."]
    for i, line in enumerate(lines):
        sheet.add(Text(top[0], top[1] - 3.0 - 4.0 * (len(lines) - 1 - i), line, size=2.6))
    bottom = layout["markers"][3]["corners_mm"][2][1]
    sheet.add(*scale_bar(top[0], bottom + 4.0, 100.0))
    return sheet


def load_chart_spec(path=None) -> dict:
    """The spec a `patchgen calibrate chart` wrote (its .json), or the built-in chart when `path` is None."""
    if path is None:
        return chart_spec()
    path = Path(path)
    if not path.is_file():
        raise UserError(f"chart file {path} not found (it is the .json written beside the chart PDF)")
    try:
        spec = json.loads(path.read_text())
        ok = spec.get("artifact") == "calibration_chart" and spec["cells"] and spec["marker_layout"]["markers"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError):
        ok = False
    if not ok:
        raise UserError(f"{path} is not a calibration chart file")
    return spec
