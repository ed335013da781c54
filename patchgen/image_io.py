"""Reading images: one decoder for the whole tool, with one clear error for a file that is not an image.

OpenCV decodes, not PIL: Ultralytics patches PIL's Image.open, and on a file PIL cannot read, that patch tries to
install a HEIF plug-in instead of failing."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from patchgen.errors import UserError


def decode_image(data: bytes, name, keep_alpha: bool = False) -> np.ndarray:
    """Bytes -> (H,W,3) RGB or (H,W,4) RGBA uint8, EXIF orientation applied; UserError if not an image."""
    flags = cv2.IMREAD_UNCHANGED if keep_alpha else cv2.IMREAD_COLOR
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags) if data else None
    if image is None or image.size == 0:
        raise UserError(f"{name}: not a readable image")
    if image.dtype == np.uint16:
        image = (image // 257).astype(np.uint8)
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        rgba = cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
        return rgba if keep_alpha else rgba[:, :, :3].copy()
    rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if keep_alpha:
        return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    return rgb


def read_image(path, keep_alpha: bool = False) -> np.ndarray:
    """(H,W,3) uint8 RGB (or RGBA with `keep_alpha`), upright as the camera meant it."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UserError(f"{path}: cannot be read ({err.strerror or err})") from None
    return decode_image(data, path, keep_alpha)
