"""The counterfactual photo: the same photo with the artifact's region painted over by a neutral patch of the
same geometry, so that re-scoring it shows what the artifact itself changed (and nothing else in the scene)."""

from __future__ import annotations

import cv2
import numpy as np

from capture.rectify import artifact_mask_in_photo

FILLS = ("grey", "random")


def neutral_patch(artifact, fill: str, rng: np.random.Generator | None = None) -> np.ndarray:
    """The replacement in the artifact's own pixel grid: mid grey, or uniform random colours."""
    h, w = artifact.image_rgba.shape[:2]
    if fill == "grey":
        return np.full((h, w, 3), 127, dtype=np.uint8)
    if fill == "random":
        rng = rng or np.random.default_rng(0)
        return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    raise ValueError(f"counterfactual fill must be one of {FILLS}, got {fill!r}")


def counterfactual(photo_rgb: np.ndarray, location, artifact, fill: str = "grey",
                   rng: np.random.Generator | None = None) -> np.ndarray:
    """Replace the artifact's shape in the photo with `neutral_patch` warped through the same homography; for a
    sticker set (capture/sticker_set.py), every piece found, each through its own."""
    out = photo_rgb.copy()
    for piece, where in location.placed(artifact):
        paint_over(out, where, piece, fill, rng)
    return out


def paint_over(photo_rgb: np.ndarray, location, artifact, fill: str, rng: np.random.Generator | None) -> None:
    """One artifact's shape in `photo_rgb` (in place) painted over by its `neutral_patch`."""
    h, w = photo_rgb.shape[:2]
    artifact_px_to_photo = location.mm_to_photo @ np.linalg.inv(artifact.mm_to_pixels())
    patch = cv2.warpPerspective(neutral_patch(artifact, fill, rng), artifact_px_to_photo, (w, h),
                                flags=cv2.INTER_NEAREST if fill == "random" else cv2.INTER_LINEAR,
                                # The mask is dilated past the artifact's edge: the patch's edge continues there.
                                borderMode=cv2.BORDER_REPLICATE)
    mask = artifact_mask_in_photo(location, artifact, photo_rgb.shape)
    photo_rgb[mask] = patch[mask]
