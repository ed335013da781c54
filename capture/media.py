"""Reading photos and writing images for the report, with one clear error for a file that is not an image."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from capture.frames import VIDEO_SUFFIXES
from patchgen.atomic import atomic_write_bytes
from patchgen.image_io import encode_image


def is_video(path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def write_image(path, rgb: np.ndarray, quality: int = 90) -> Path:
    path = Path(path)
    return atomic_write_bytes(path, encode_image(rgb, path.suffix or ".jpg", quality))


def shrink(rgb: np.ndarray, max_side: int) -> np.ndarray:
    scale = max_side / max(rgb.shape[:2])
    if scale >= 1:
        return rgb
    return cv2.resize(rgb, (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale)), interpolation=cv2.INTER_AREA)
