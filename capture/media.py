"""Reading photos and writing images for the report, with one clear error for a file that is not an image."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from capture.frames import VIDEO_SUFFIXES
from patchgen.atomic import atomic_write_bytes
from patchgen.errors import UserError


def is_video(path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def decode_image(data: bytes, name, keep_alpha: bool = False) -> np.ndarray:
    """Bytes -> (H,W,3) RGB or (H,W,4) RGBA uint8, EXIF orientation applied; UserError if not an image.

    OpenCV decodes, not PIL: Ultralytics patches PIL's Image.open, and on a file PIL cannot read that patch
    tries to install a HEIF plug-in instead of failing."""
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


def read_photo(path, keep_alpha: bool = False) -> np.ndarray:
    """(H,W,3) uint8 RGB (or RGBA with `keep_alpha`), upright as the camera meant it."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UserError(f"{path}: cannot be read ({err.strerror or err})") from None
    return decode_image(data, path, keep_alpha)


def encode_image(rgb: np.ndarray, suffix: str = ".jpg", quality: int = 90) -> bytes:
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if suffix.lower() in (".jpg", ".jpeg") else []
    ok, data = cv2.imencode(suffix, np.ascontiguousarray(rgb[:, :, ::-1]), params)
    if not ok:
        raise RuntimeError(f"could not encode an image as {suffix}")
    return data.tobytes()


def write_image(path, rgb: np.ndarray, quality: int = 90) -> Path:
    path = Path(path)
    return atomic_write_bytes(path, encode_image(rgb, path.suffix or ".jpg", quality))


def shrink(rgb: np.ndarray, max_side: int) -> np.ndarray:
    scale = max_side / max(rgb.shape[:2])
    if scale >= 1:
        return rgb
    return cv2.resize(rgb, (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale)), interpolation=cv2.INTER_AREA)
