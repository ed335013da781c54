"""ArUco registration markers: draw them for print, find them in a photo, and map artifact millimetres to pixels.

A *layout* (written into every export/chart sidecar, read by `capture/`) says where each marker's outer black
square sits on paper, in millimetres relative to the artifact's top-left corner (x right, y down):

    {"aruco_dict": "DICT_4X4_50", "artifact_size_mm": [w, h],
     "markers": [{"id": 0, "corners_mm": [[x, y], [x, y], [x, y], [x, y]]}, ...]}   # TL, TR, BR, BL

4x4 codes with 50 ids: the biggest cells for a given marker size (they survive blur and small prints), and
more ids than a page ever needs.
"""

from __future__ import annotations

import cv2
import numpy as np

ARUCO_DICT_NAME = "DICT_4X4_50"
# The code area is 4x4 bits plus a one-bit black border: 6 cells across the printed black square.
MARKER_CELLS = 6


def aruco_dictionary(name: str = ARUCO_DICT_NAME):
    if not name.startswith("DICT_") or not hasattr(cv2.aruco, name):
        raise ValueError(f"unknown ArUco dictionary {name!r}")
    return cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, name))


def draw_marker(marker_id: int, side_px: int, dict_name: str = ARUCO_DICT_NAME) -> np.ndarray:
    """The marker as uint8 gray (0 black, 255 white), `side_px` square, including its black border.

    The caller leaves a white quiet zone around it (a detector needs contrast outside the black square)."""
    if side_px < MARKER_CELLS:
        raise ValueError(f"a marker needs at least {MARKER_CELLS} px per side, got {side_px}")
    return cv2.aruco.generateImageMarker(aruco_dictionary(dict_name), int(marker_id), int(side_px), borderBits=1)


def _detector(dict_name: str):
    params = cv2.aruco.DetectorParameters()
    # Sub-pixel corners: the homography, and so the measured print size, is only as good as these.
    params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
    params.cornerRefinementWinSize = 5
    params.cornerRefinementMaxIterations = 50
    params.cornerRefinementMinAccuracy = 0.01
    return cv2.aruco.ArucoDetector(aruco_dictionary(dict_name), params)


def _to_gray(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"detect_markers wants a uint8 image, got {image.dtype}")
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3 and image.shape[2] in (3, 4):
        # Equal channel weights: the same gray whether the caller holds RGB or BGR.
        return image[:, :, :3].mean(axis=2).round().astype(np.uint8)
    raise ValueError(f"detect_markers wants an (H,W) or (H,W,3) image, got shape {image.shape}")


def detect_markers(image: np.ndarray, dict_name: str = ARUCO_DICT_NAME) -> dict[int, np.ndarray]:
    """id -> (4,2) float32 corners TL, TR, BR, BL (the marker's own orientation) in image pixels.

    `image` is uint8 gray, RGB or BGR. An id seen twice keeps the larger copy (the nearer, better-measured one)."""
    gray = _to_gray(image)
    corners, ids, _rejected = _detector(dict_name).detectMarkers(gray)
    found: dict[int, np.ndarray] = {}
    if ids is None:
        return found
    for quad, marker_id in zip(corners, ids.reshape(-1)):
        quad = np.asarray(quad, dtype=np.float32).reshape(4, 2)
        key = int(marker_id)
        if key in found and cv2.contourArea(found[key]) >= cv2.contourArea(quad):
            continue
        found[key] = quad
    return found


def marker_layout(artifact_size_mm, markers, dict_name: str = ARUCO_DICT_NAME) -> dict:
    """Build a layout dict from `markers` = [(id, x_mm, y_mm, side_mm)], (x, y) the black square's top-left."""
    entries = []
    for marker_id, x, y, side in markers:
        x, y, side = float(x), float(y), float(side)
        corners = [[x, y], [x + side, y], [x + side, y + side], [x, y + side]]
        entries.append({"id": int(marker_id), "corners_mm": [[round(a, 4), round(b, 4)] for a, b in corners]})
    w, h = artifact_size_mm
    return {"aruco_dict": dict_name, "artifact_size_mm": [float(w), float(h)], "markers": entries}


def correspondences(detected: dict, layout: dict) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Matched (N,2) millimetre and pixel corner arrays for the layout markers that were detected."""
    mm, px, used = [], [], []
    for entry in layout["markers"]:
        quad = detected.get(int(entry["id"]))
        if quad is None:
            continue
        mm.append(np.asarray(entry["corners_mm"], dtype=np.float64).reshape(4, 2))
        px.append(np.asarray(quad, dtype=np.float64).reshape(4, 2))
        used.append(int(entry["id"]))
    if not used:
        return np.zeros((0, 2)), np.zeros((0, 2)), used
    return np.concatenate(mm), np.concatenate(px), used


def homography_from_markers(detected: dict, layout: dict, min_markers: int = 2) -> np.ndarray | None:
    """3x3 H mapping artifact millimetres (x right, y down) to image pixels, or None with < `min_markers` found.

    Uses all four corners of every layout marker found: RANSAC drops a misdetected corner, then a least-squares
    refit on the inliers. Ids not in the layout (another sheet in view) are ignored."""
    mm, px, used = correspondences(detected, layout)
    if len(used) < max(1, int(min_markers)):
        return None
    # With one marker (4 points) RANSAC has nothing to vote with; a direct fit is all there is.
    if len(used) == 1:
        H, _ = cv2.findHomography(mm, px, 0)
    else:
        scale = float(np.linalg.norm(px.max(0) - px.min(0)))
        threshold = max(2.0, 0.005 * scale)
        H, inliers = cv2.findHomography(mm, px, cv2.RANSAC, threshold, maxIters=2000, confidence=0.999)
        if H is not None and inliers is not None and int(inliers.sum()) >= 4:
            keep = inliers.reshape(-1).astype(bool)
            H_ls, _ = cv2.findHomography(mm[keep], px[keep], 0)
            H = H_ls if H_ls is not None else H
    if H is None or not np.all(np.isfinite(H)) or abs(H[2, 2]) < 1e-12:
        return None
    return H / H[2, 2]


def apply_homography(H: np.ndarray, points) -> np.ndarray:
    """Map (N,2) points through H."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 1, 2)
    return cv2.perspectiveTransform(pts, np.asarray(H, dtype=np.float64)).reshape(-1, 2)
