"""Where the printed artifact is in a photo: a homography from artifact millimetres to photo pixels, and how it was
found. What every way of finding it (capture/locate.py) returns, and what rectify, the counterfactual and the
verdict read."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from printing.run_exports import ExportRecord

# Two fits are of one place where their quads share this much of the smaller one's area (see `overlapping`).
OVERLAP_SHARE = 0.25


@dataclass
class Location:
    method: str  # "markers", "markers+features" (markers, refined on the artifact's own image) or "features"
    mm_to_photo: np.ndarray  # 3x3 artifact mm -> photo px
    corners_px: np.ndarray  # (4,2) artifact corners TL TR BR BL in the photo
    markers: dict = field(default_factory=dict)  # id -> (4,2) detected marker corners (markers path)
    export: ExportRecord | None = None  # the export whose layout the markers fitted (markers path)
    reprojection_px: float | None = None  # RMS of the markers' corners under that fit
    inliers: int = 0  # keypoint matches that seeded the fit (features path; 0 when seeded otherwise)
    correlation: float | None = None  # of the aligned print with the photo (wherever its image was fitted)
    seed: str | None = None  # what the image fit started from: "markers", "keypoints", "search", "previous frame"
    detail_correlation: float | None = None  # of the print's own detail (capture/detail.py); None: not measured
    other_markers: tuple = ()  # export marker ids seen that belong to no chosen print (left out; features path)
    # Why this place may not be the artifact (a look-alike, or two places alike): the photo is then not judged.
    doubt: str | None = None

    @property
    def centre_px(self) -> np.ndarray:
        return self.corners_px.mean(axis=0)

    def placed(self, artifact) -> list:
        """(artifact, Location) of what was found: this one (a sticker set's location lists its pieces)."""
        return [(artifact, self)]

    def describe(self) -> str:
        """How it was found, in a word or two (the annotation's banner)."""
        return self.method

    def to_dict(self) -> dict:
        return {"method": self.method, "corners_px": np.round(self.corners_px, 2).tolist(),
                "markers_found": sorted(int(k) for k in self.markers), "feature_inliers": int(self.inliers),
                "correlation": None if self.correlation is None else round(self.correlation, 4), "seed": self.seed,
                "detail_correlation": None if self.detail_correlation is None else round(self.detail_correlation, 4),
                "doubt": self.doubt,
                "export": self.export.name if self.export is not None else None,
                "marker_reprojection_px": None if self.reprojection_px is None else round(self.reprojection_px, 3),
                "mm_to_photo": np.round(self.mm_to_photo, 8).tolist()}


def plausible_quad(corners: np.ndarray, shape) -> bool:
    """A real view of a flat printout is a convex quad of some size, not a sliver or a bow tie."""
    if not np.all(np.isfinite(corners)):
        return False
    if not cv2.isContourConvex(corners.astype(np.float32).reshape(-1, 1, 2)):
        return False
    area = abs(cv2.contourArea(corners.astype(np.float32)))
    if area < 64 or area > 4 * shape[0] * shape[1]:
        return False
    sides = np.linalg.norm(corners - np.roll(corners, -1, axis=0), axis=1)
    return sides.min() > 0.1 * sides.max()


def overlapping(a: np.ndarray, b: np.ndarray) -> bool:
    """Two quads are one place where they share at least OVERLAP_SHARE of the smaller one's area (a print's
    fits a little apart, a texture's sheet a repeat off); side by side, two prints share none."""
    area, _ = cv2.intersectConvexConvex(a.astype(np.float32), b.astype(np.float32))
    smaller = min(abs(cv2.contourArea(q.astype(np.float32))) for q in (a, b))
    return area >= OVERLAP_SHARE * smaller
