"""A shape from a PNG: its alpha channel, fitted into the artifact's square and checked there, at the size it is
used (torch-free: the config check reads it before torch loads)."""

import cv2
import numpy as np

from patchgen.errors import UserError
from patchgen.image_io import read_image

VISIBLE_ALPHA = 0.5  # a pixel at least half opaque shows; a fainter one is mostly the scene behind it
MIN_VISIBLE = 0.01  # an artifact whose visible pixels cover under 1 % of its square shows next to nothing


def mask_alpha(path, size: int) -> np.ndarray:
    """(size,size) float32 alpha in [0,1] of an image file, fitted into the square with its aspect ratio kept;
    a UserError when it is not an image, when its alpha holds no shape, or when the shape vanishes at this size
    (one opaque pixel of a large mask, alpha 1/255 everywhere)."""
    alpha = read_image(path, keep_alpha=True)[:, :, 3]
    if alpha.min() == 255:
        raise UserError(f"mask {path} has no transparent pixels: its alpha channel is the shape, so make the "
                        f"outside transparent (or use square or circle)")
    if alpha.max() == 0:
        raise UserError(f"mask {path} is transparent everywhere: there is no shape in it")
    fitted = fit_square(alpha, size)
    check_visible(fitted, f"mask {path}", f"when resized to artifact.size = {size} px",
                  "draw the shape larger and opaque (alpha 255 inside)")
    return fitted


def fit_square(image: np.ndarray, size: int) -> np.ndarray:
    """(H,W) or (H,W,C) uint8 -> (size,size) or (size,size,C) float32 in [0,1]: the whole image scaled to fit
    the square, centred, zeros (transparent) around it; never stretched, never cropped. Area-averaged: soft
    edges stay soft, and a shape too thin for the size fades (check_visible then says so)."""
    height, width = image.shape[:2]
    scale = size / max(height, width)
    fitted = max(1, round(height * scale)), max(1, round(width * scale))
    resized = cv2.resize(image, fitted[::-1], interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    square = np.zeros((size, size, *image.shape[2:]), np.float32)
    top, left = (size - fitted[0]) // 2, (size - fitted[1]) // 2
    square[top : top + fitted[0], left : left + fitted[1]] = resized.reshape(*fitted, *image.shape[2:])
    return square


def check_visible(alpha01: np.ndarray, what: str, where: str, fix: str) -> None:
    """A UserError when too little of this (S,S) alpha in [0,1] shows: the artifact would be trained, evaluated
    and printed invisible, and an attack that shows nothing measures nothing."""
    cover = float((alpha01 >= VISIBLE_ALPHA).mean())
    if cover < MIN_VISIBLE:
        raise UserError(f"{what} is (nearly) invisible {where}: {cover * 100:.3g} % of its square is at least half "
                        f"opaque, under the {MIN_VISIBLE * 100:g} % an artifact needs; {fix}")
