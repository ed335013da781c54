"""Read a photo of a printed calibration chart: find its markers, rectify the page, and sample each cell's
captured colour robustly (the median of the cell's centre, away from its blurred edges)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from patchgen.errors import UserError
from printing.chart import CHART_MIN_MARKERS
from printing.markers import apply_homography, correspondences, detect_markers, homography_from_markers

RECTIFY_PX_PER_MM = 6.0
SAMPLE_FRACTION = 0.5  # the central half of each cell, per side
# A cell whose centre varies more than this (inter-quartile range, 0-1 units) is glare, dirt or a fold, not noise.
MAX_CELL_SPREAD = 0.12


@dataclass(frozen=True)
class ChartReading:
    digital: np.ndarray  # (N, 3) float in [0,1]
    captured: np.ndarray  # (N, 3) float in [0,1]
    heldout: np.ndarray  # (N,) bool
    cell_ids: list
    markers_found: list
    reprojection_px: float  # mean marker-corner error of the homography: how flat and sharp the photo was
    spread: np.ndarray  # (N,) per-cell inter-quartile range, a cell hit by glare or dirt stands out

    @property
    def reliable(self) -> np.ndarray:
        """(N,) bool: cells evenly coloured in the photo, the ones to fit on."""
        return self.spread <= MAX_CELL_SPREAD


def read_chart(photo_rgb: np.ndarray, spec: dict, name: str = "the photo",
               min_markers: int = CHART_MIN_MARKERS) -> ChartReading:
    layout = spec["marker_layout"]
    wanted = {int(m["id"]) for m in layout["markers"]}
    detected = {k: v for k, v in detect_markers(photo_rgb, layout["aruco_dict"]).items() if k in wanted}
    if not detected:
        raise UserError(f"no calibration-chart markers found in {name}: photograph the whole chart, flat and in focus")
    H = homography_from_markers(detected, layout, min_markers=min_markers)
    if H is None:
        raise UserError(f"only {len(detected)} of the chart's {len(wanted)} markers found in {name} "
                        f"(ids {sorted(detected)}); at least {min_markers} are needed: keep them all in view")
    mm, px, used = correspondences(detected, layout)
    reprojection = float(np.linalg.norm(apply_homography(H, mm) - px, axis=1).mean())

    # Rectify: output pixel -> chart mm (via S^-1) -> photo pixel (via H); warpPerspective samples the photo there.
    grid_w, grid_h = layout["artifact_size_mm"]
    s = RECTIFY_PX_PER_MM
    S = np.array([[s, 0, 0], [0, s, 0], [0, 0, 1]], dtype=np.float64)
    size = (int(np.ceil(grid_w * s)), int(np.ceil(grid_h * s)))
    flat = cv2.warpPerspective(photo_rgb, H @ np.linalg.inv(S), size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    flat = flat.astype(np.float32) / 255.0

    captured, spread = [], []
    for cell in spec["cells"]:
        x, y, w, h = cell["rect_mm"]
        inset = (1 - SAMPLE_FRACTION) / 2
        # Rectified pixel i samples chart point i / s mm: keep the pixels inside the cell's central part.
        x0, x1 = int(np.ceil((x + inset * w) * s)), int(np.floor((x + (1 - inset) * w) * s))
        y0, y1 = int(np.ceil((y + inset * h) * s)), int(np.floor((y + (1 - inset) * h) * s))
        patch = flat[y0:y1, x0:x1].reshape(-1, 3)
        captured.append(np.median(patch, axis=0))
        q75, q25 = np.percentile(patch, [75, 25], axis=0)
        spread.append(float((q75 - q25).max()))
    return ChartReading(
        digital=np.array([c["rgb"] for c in spec["cells"]], dtype=np.float64),
        captured=np.array(captured, dtype=np.float64),
        heldout=np.array([bool(c["heldout"]) for c in spec["cells"]]),
        cell_ids=[c["id"] for c in spec["cells"]],
        markers_found=sorted(used),
        reprojection_px=reprojection,
        spread=np.array(spread),
    )
