"""Reading images: one decoder for the whole tool, with one clear error for a file that is not an image.

OpenCV decodes, not PIL: Ultralytics patches PIL's Image.open, and on a file PIL cannot read, that patch tries to
install a HEIF plug-in instead of failing."""

from __future__ import annotations

import os
import struct
import sys
import tempfile
from contextlib import contextmanager

import cv2
import numpy as np

from patchgen.errors import UserError, require_file

JPEG_SIZE_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}  # SOFn


def decode_image(data: bytes, name, keep_alpha: bool = False) -> np.ndarray:
    """Bytes -> (H,W,3) RGB or (H,W,4) RGBA uint8, EXIF orientation applied; UserError if not an image (or too
    large for OpenCV), and one patchgen warning line for an image its decoder complained about but decoded."""
    flags = cv2.IMREAD_UNCHANGED if keep_alpha else cv2.IMREAD_COLOR
    with decoder_messages() as messages:
        try:
            image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags) if data else None
        except cv2.error as err:  # OpenCV refuses images over CV_IO_MAX_IMAGE_PIXELS before allocating them
            raise UserError(f"{name}: {refusal(data, err)}") from None
    if image is None or image.size == 0:
        reason = f" ({messages[0]})" if messages else ""
        raise UserError(f"{name}: not a readable image{reason}")
    if messages:  # damaged but decoded (a corrupt JPEG segment, a bad colour profile): the user should know
        print(f"warning: {name}: {'; '.join(messages)} (decoded anyway)", file=sys.stderr)
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
    path = require_file(path, "image")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UserError(f"{path}: cannot be read ({err.strerror or err})") from None
    return decode_image(data, path, keep_alpha)


@contextmanager
def decoder_messages():
    """The lines the C decoders under OpenCV (libjpeg's "Corrupt JPEG data...", libpng's warnings) write straight
    to file descriptor 2 during the block, collected instead of reaching the terminal: OPENCV_LOG_LEVEL does not
    reach them. patchgen decodes on its main thread, so nothing else writes to descriptor 2 meanwhile."""
    messages: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield messages
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines = sink.read().decode("utf-8", "replace").splitlines()
            messages.extend(dict.fromkeys(line.strip() for line in lines if line.strip()))


def refusal(data: bytes, err: cv2.error) -> str:
    """Why OpenCV refused to decode: its pixel limit (with the size from the header), or its own words."""
    if "CV_IO_MAX_IMAGE" not in str(err):
        return f"not a readable image ({err.err})"
    size = header_size(data)
    limit = os.environ.get("CV_IO_MAX_IMAGE_PIXELS", str(1 << 30))
    shown = f"{size[0]} x {size[1]} px" if size else "over OpenCV's limit"
    return f"too large to decode: {shown} (OpenCV decodes at most {limit} pixels; CV_IO_MAX_IMAGE_PIXELS)"


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's or JPEG's header without decoding it; None for other formats."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    if data[:2] != b"\xff\xd8":
        return None
    pos = 2
    while pos + 9 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker in JPEG_SIZE_MARKERS:
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        pos += 2 + struct.unpack(">H", data[pos + 2 : pos + 4])[0]
    return None
