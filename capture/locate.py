"""Find the printed artifact in a photo: by its ArUco markers when the printout carries them, otherwise by
matching the digital artifact's own SIFT features (a worn shirt, a patch printed elsewhere, a peer's patch).

Both paths end in the same thing: a homography from artifact millimetres to photo pixels.

Which print: a run may hold several exports (one per size and paper), each with its own layout. Each export has
its own marker ids (printing/run_exports.py), so the ids seen say which. Exports made before that all use ids 0-3;
then every layout that has the ids seen is fitted, and the one whose markers fit best (RMS reprojection error over
all matched corners) is taken: marker size and spacing relative to the artifact differ with print size, so a
wrong layout does not fit. Where two layouts fit about equally well but put the artifact in different places,
the photo does not say which print it shows: one UserError asks for --export rather than a guess."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from patchgen.errors import UserError
from printing.markers import apply_homography, correspondences, detect_markers, homography_from_markers
from printing.run_exports import ExportRecord

# Fewer matches than this and a homography fitted by RANSAC is as likely chance as the artifact.
MIN_FEATURE_INLIERS = 12
# The template is matched at this size at most: more keypoints on a large artifact only add time.
TEMPLATE_MAX_SIDE = 640
# Two layouts fit "about equally well" when the worse RMS error is within 2x + 0.5 px of the better. The right
# layout fits to under a pixel even under blur and JPEG; a wrong one (other marker size and spacing) misses by
# several pixels once two markers are seen.
TIE_RATIO, TIE_PX = 2.0, 0.5
# Two fits that put every artifact corner within this of each other agree: either will do.
SAME_PLACE_PX = 2.0


@dataclass
class Location:
    method: str  # "markers" or "features"
    mm_to_photo: np.ndarray  # 3x3 artifact mm -> photo px
    corners_px: np.ndarray  # (4,2) artifact corners TL TR BR BL in the photo
    markers: dict = field(default_factory=dict)  # id -> (4,2) detected marker corners (markers path)
    export: ExportRecord | None = None  # the export whose layout the markers fitted (markers path)
    reprojection_px: float | None = None  # RMS of the markers' corners under that fit
    inliers: int = 0  # feature matches that agree with the homography (features path)
    matches_mm: np.ndarray | None = None  # (N,2) inlier feature positions on the artifact, mm
    matches_px: np.ndarray | None = None  # (N,2) the same features in the photo, px

    @property
    def centre_px(self) -> np.ndarray:
        return self.corners_px.mean(axis=0)

    def to_dict(self) -> dict:
        return {"method": self.method, "corners_px": np.round(self.corners_px, 2).tolist(),
                "markers_found": sorted(int(k) for k in self.markers), "feature_inliers": int(self.inliers),
                "export": self.export.name if self.export is not None else None,
                "marker_reprojection_px": None if self.reprojection_px is None else round(self.reprojection_px, 3),
                "mm_to_photo": np.round(self.mm_to_photo, 8).tolist()}


class FeatureTemplate:
    """SIFT keypoints of the digital artifact, computed once and matched against every photo or frame."""

    def __init__(self, artifact):
        rgba = artifact.image_rgba
        scale = min(1.0, TEMPLATE_MAX_SIDE / max(rgba.shape[:2]))
        # Small artifacts are enlarged: SIFT finds few keypoints on a 100 px image.
        if max(rgba.shape[:2]) < 320:
            scale = 320 / max(rgba.shape[:2])
        size = (max(1, round(rgba.shape[1] * scale)), max(1, round(rgba.shape[0] * scale)))
        image = cv2.resize(rgba, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
        gray = cv2.cvtColor(image[:, :, :3], cv2.COLOR_RGB2GRAY)
        mask = (image[:, :, 3] > 127).astype(np.uint8) * 255
        self.sift = cv2.SIFT_create()
        self.keypoints, self.descriptors = self.sift.detectAndCompute(gray, mask)
        # template px -> artifact mm: undo the resize, then pixel centres to mm.
        sx, sy = size[0] / float(artifact.size_mm[0]), size[1] / float(artifact.size_mm[1])
        self.mm_to_template = np.array([[sx, 0, -0.5], [0, sy, -0.5], [0, 0, 1]], dtype=np.float64)
        self.corners_mm = artifact.corners_mm()
        self.matcher = cv2.FlannBasedMatcher({"algorithm": 1, "trees": 5}, {"checks": 64})

    def locate(self, photo_rgb: np.ndarray, max_side: int | None = None) -> Location | None:
        if self.descriptors is None or len(self.keypoints) < MIN_FEATURE_INLIERS:
            return None
        gray = cv2.cvtColor(photo_rgb, cv2.COLOR_RGB2GRAY)
        shrink = 1.0
        if max_side and max(gray.shape) > max_side:
            shrink = max_side / max(gray.shape)
            gray = cv2.resize(gray, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
        keypoints, descriptors = self.sift.detectAndCompute(gray, None)
        if descriptors is None or len(keypoints) < MIN_FEATURE_INLIERS:
            return None
        pairs = self.matcher.knnMatch(self.descriptors, descriptors, k=2)
        # Lowe's ratio test: keep a match only when it is clearly better than the runner-up.
        good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.75 * p[1].distance]
        if len(good) < MIN_FEATURE_INLIERS:
            return None
        src = np.float64([self.keypoints[m.queryIdx].pt for m in good])
        dst = np.float64([keypoints[m.trainIdx].pt for m in good]) / shrink
        threshold = max(3.0, 0.004 * max(photo_rgb.shape[:2]))
        H, inliers = cv2.findHomography(src, dst, cv2.RANSAC, threshold, maxIters=4000, confidence=0.999)
        if H is None or inliers is None or int(inliers.sum()) < MIN_FEATURE_INLIERS:
            return None
        keep = inliers.reshape(-1).astype(bool)
        refined, _ = cv2.findHomography(src[keep], dst[keep], 0)
        H = refined if refined is not None else H
        mm_to_photo = H @ self.mm_to_template
        mm_to_photo = mm_to_photo / mm_to_photo[2, 2]
        corners = apply_homography(mm_to_photo, self.corners_mm)
        if not plausible_quad(corners, photo_rgb.shape):
            return None
        matches_mm = apply_homography(np.linalg.inv(self.mm_to_template), src[keep])
        return Location("features", mm_to_photo, corners, inliers=int(keep.sum()), matches_mm=matches_mm,
                        matches_px=dst[keep])


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


def fit_export(detected: dict, export, artifact, shape) -> Location | None:
    """The artifact located through one export's layout (None: under 2 of its markers seen, or no real quad)."""
    H = homography_from_markers(detected, export.layout, min_markers=2)
    if H is None:
        return None
    mm, px, used = correspondences(detected, export.layout)
    # Over every matched corner, not RANSAC's inliers only: a wrong layout must not hide its misfit as outliers.
    error = float(np.sqrt(((apply_homography(H, mm) - px) ** 2).sum(axis=1).mean()))
    H = H @ np.linalg.inv(artifact.export_to_artifact(export))
    H = H / H[2, 2]
    corners = apply_homography(H, artifact.corners_mm())
    if not plausible_quad(corners, shape):
        return None
    return Location("markers", H, corners, markers={k: detected[k] for k in used}, export=export,
                    reprojection_px=error)


def locate_by_markers(photo_rgb: np.ndarray, artifact, detected: dict | None = None) -> Location | None:
    """Through the export whose layout fits the markers seen best (see the module docstring)."""
    if not artifact.exports:
        return None
    detected = detect_markers(photo_rgb) if detected is None else detected
    fits = [fit_export(detected, export, artifact, photo_rgb.shape) for export in artifact.exports]
    fits = sorted((f for f in fits if f is not None), key=lambda f: f.reprojection_px)
    if not fits:
        return None
    best = fits[0]
    for other in fits[1:]:
        tie = other.reprojection_px <= TIE_RATIO * best.reprojection_px + TIE_PX
        if tie and np.abs(other.corners_px - best.corners_px).max() > SAME_PLACE_PX:
            raise UserError(f"the markers in view fit exports {best.export.name} and {other.export.name} about "
                            f"equally well ({best.reprojection_px:.1f} and {other.reprojection_px:.1f} px) but put "
                            f"the artifact in different places: say which print it shows with --export NAME")
    return best


def combine(by_markers: Location, by_features: Location, artifact, shape) -> Location | None:
    """One homography from the markers' corners and the feature matches together.

    With only some markers in view (two at one edge, say) their corners constrain the far side of the artifact
    poorly; the feature matches spread over the artifact itself fix that."""
    mm_markers, px_markers, _ = correspondences(by_markers.markers, by_markers.export.layout)
    mm_markers = apply_homography(artifact.export_to_artifact(by_markers.export), mm_markers)
    mm = np.concatenate([mm_markers, by_features.matches_mm])
    px = np.concatenate([px_markers, by_features.matches_px])
    threshold = max(3.0, 0.004 * max(shape[:2]))
    H, inliers = cv2.findHomography(mm, px, cv2.RANSAC, threshold, maxIters=4000, confidence=0.999)
    if H is None or inliers is None:
        return None
    keep = inliers.reshape(-1).astype(bool)
    refined, _ = cv2.findHomography(mm[keep], px[keep], 0)
    H = (refined if refined is not None else H)
    H = H / H[2, 2]
    corners = apply_homography(H, artifact.corners_mm())
    if not plausible_quad(corners, shape):
        return None
    return Location("markers+features", H, corners, markers=by_markers.markers,
                    inliers=int(keep[len(mm_markers):].sum()), export=by_markers.export,
                    reprojection_px=by_markers.reprojection_px)


def locate_artifact(photo_rgb: np.ndarray, artifact, template: FeatureTemplate | None = None,
                    use_features: bool = True, feature_max_side: int | None = None) -> Location | None:
    """Markers first (exact, cheap). Where some are missing, the artifact's own features too, fitted together
    with the markers that were found; where none are, the features alone."""
    by_markers = locate_by_markers(photo_rgb, artifact)
    all_markers = by_markers is not None and len(by_markers.markers) >= len(by_markers.export.layout["markers"])
    if all_markers or not use_features:
        return by_markers
    template = template or FeatureTemplate(artifact)
    by_features = template.locate(photo_rgb, max_side=feature_max_side)
    if by_features is None:
        return by_markers
    if by_markers is None:
        return by_features
    return combine(by_markers, by_features, artifact, photo_rgb.shape) or by_markers
