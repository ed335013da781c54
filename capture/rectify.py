"""Rectify: pull the printed artifact out of a photo, back into the digital artifact's own pixel grid."""

from __future__ import annotations

import cv2
import numpy as np


def rectify(photo_rgb: np.ndarray, location, artifact) -> np.ndarray:
    """The photo resampled onto the digital artifact's pixels (same size), so the two compare pixel for pixel."""
    h, w = artifact.image_rgba.shape[:2]
    artifact_px_to_photo = location.mm_to_photo @ np.linalg.inv(artifact.mm_to_pixels())
    return cv2.warpPerspective(photo_rgb, artifact_px_to_photo, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_REPLICATE)


def artifact_mask_in_photo(location, artifact, shape, dilate_px: int = 1) -> np.ndarray:
    """Bool (H,W) mask of the photo pixels the artifact's shape covers (dilated a little for the blurred edge)."""
    h, w = shape[:2]
    artifact_px_to_photo = location.mm_to_photo @ np.linalg.inv(artifact.mm_to_pixels())
    alpha = artifact.image_rgba[:, :, 3]
    warped = cv2.warpPerspective(alpha, artifact_px_to_photo, (w, h), flags=cv2.INTER_LINEAR)
    mask = (warped > 32).astype(np.uint8)
    if dilate_px > 0:
        mask = cv2.dilate(mask, np.ones((2 * dilate_px + 1, 2 * dilate_px + 1), np.uint8))
    return mask.astype(bool)
