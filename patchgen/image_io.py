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

TENSOR_SUFFIXES = (".safetensors", ".pt", ".pth", ".ckpt")  # what a run or a model saves: no image
JPEG_SIZE_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}  # SOFn


def decode_image(data: bytes, name, keep_alpha: bool = False) -> np.ndarray:
    """Bytes -> (H,W,3) RGB or (H,W,4) RGBA uint8, EXIF orientation applied; UserError if not an image (or too
    large for OpenCV), and one patchgen warning line for an image its decoder complained about but decoded.

    One decode for colour and alpha alike (OpenCV's IMREAD_UNCHANGED, which keeps alpha but skips the EXIF
    orientation that IMREAD_COLOR applies), then the orientation applied here to all channels: an RGBA read and an
    RGB read of the same file are the same picture the same way up."""
    with decoder_messages() as messages:
        try:
            # flags by keyword: OpenCV 4.x's second positional argument is the metadata output, 5.x's the flags
            image, kinds, blobs = (cv2.imdecodeWithMetadata(np.frombuffer(data, dtype=np.uint8),
                                                            flags=cv2.IMREAD_UNCHANGED) if data else (None, (), ()))
        except cv2.error as err:  # OpenCV refuses images over CV_IO_MAX_IMAGE_PIXELS before allocating them
            raise UserError(f"{name}: {refusal(data, err)}") from None
    if image is None or image.size == 0:
        if os.path.splitext(str(name))[1].lower() in TENSOR_SUFFIXES:
            raise UserError(f"{name}: {not_an_image(name)}")
        reason = f" ({messages[0]})" if messages else ""
        raise UserError(f"{name}: not a readable image{reason}")
    if messages:  # damaged but decoded (a corrupt JPEG segment, a bad colour profile): the user should know
        print(f"warning: {name}: {'; '.join(messages)} (decoded anyway)", file=sys.stderr)
    image = as_uint8(image, name)
    if image.ndim == 2:
        image = image[:, :, None]
    channels = image.shape[2]
    if channels in (1, 2):  # grey, grey + alpha
        image = np.concatenate([image[:, :, :1]] * 3 + [image[:, :, 1:]], 2)
    elif channels in (3, 4):
        image = image[:, :, [2, 1, 0, 3][:channels]]  # OpenCV's BGR(A) -> RGB(A)
    else:
        raise UserError(f"{name}: an image with {channels} channels; patchgen reads grey, RGB and RGBA images")
    if keep_alpha and image.shape[2] == 3:
        image = np.dstack([image, np.full(image.shape[:2], 255, np.uint8)])
    elif not keep_alpha:
        image = image[:, :, :3]
    exif = [bytes(blob) for kind, blob in zip(kinds, blobs) if kind == cv2.IMAGE_METADATA_EXIF]
    return np.ascontiguousarray(upright(image, exif_orientation(exif[0]) if exif else 1))


def as_uint8(image: np.ndarray, name) -> np.ndarray:
    """8-bit as it is; 16-bit scaled down; floating point (a 32-bit TIFF) read as 0..1, the range float images
    mean, and refused outside it: a guess at another range (0..255? HDR?) would train on the wrong colours."""
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return (image // 257).astype(np.uint8)
    if image.dtype.kind == "f":
        if not np.isfinite(image).all():
            raise UserError(f"{name}: a floating-point image holding NaN or infinite values: save it as an 8- or "
                            f"16-bit PNG")
        low, high = float(image.min()), float(image.max())
        if low < 0 or high > 1:
            raise UserError(f"{name}: a floating-point image with values from {low:g} to {high:g}; patchgen reads "
                            f"float images as 0 (black) to 1 (white): rescale it to 0..1 or save it as an 8- or "
                            f"16-bit PNG")
        return (image * 255 + 0.5).astype(np.uint8)
    raise UserError(f"{name}: a {image.dtype} image; patchgen reads 8- and 16-bit images and 0..1 float ones: save "
                    f"it as an 8- or 16-bit PNG")


def exif_orientation(exif: bytes) -> int:
    """The EXIF Orientation tag (1..8; 1 upright), 1 when absent or unreadable."""
    from PIL import Image  # only its EXIF parser: Image.open is patched by Ultralytics (see the module docstring)

    tags = Image.Exif()
    try:
        tags.load(exif)
    except (SyntaxError, ValueError, OSError, struct.error):  # a damaged EXIF block: the pixels still stand
        return 1
    orientation = tags.get(0x0112, 1)
    return orientation if orientation in range(1, 9) else 1


def upright(image: np.ndarray, orientation: int) -> np.ndarray:
    """(H,W,C) turned as EXIF orientation 1..8 says (the transposes of PIL.ImageOps.exif_transpose)."""
    if orientation in (5, 6, 7, 8):  # a quarter turn: first the transpose (EXIF 5), then the flips below
        image = image.transpose(1, 0, 2)
    flip_rows, flip_columns = {2: (False, True), 3: (True, True), 4: (True, False), 6: (False, True),
                               7: (True, True), 8: (True, False)}.get(orientation, (False, False))
    if flip_rows:
        image = image[::-1]
    if flip_columns:
        image = image[:, ::-1]
    return image


def not_an_image(name) -> str:
    """Why a tensor or checkpoint file is no image, and what to pass instead."""
    from patchgen.run_dir import ARTIFACT_PNG

    return (f"a {os.path.splitext(str(name))[1].lower()} file holds tensors (a checkpoint), not an image: pass the "
            f"run's artifact image (RUN/{ARTIFACT_PNG}), or evaluate the run folder itself with `patchgen eval RUN`")


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


def encode_image(rgb: np.ndarray, suffix: str = ".jpg", quality: int = 90) -> bytes:
    """An RGB uint8 image as the bytes of an image file (JPEG at `quality`, PNG, ...), the one encoder."""
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if suffix.lower() in (".jpg", ".jpeg") else []
    ok, data = cv2.imencode(suffix, np.ascontiguousarray(rgb[:, :, ::-1]), params)
    if not ok:
        raise RuntimeError(f"could not encode an image as {suffix}")
    return data.tobytes()
