"""An artifact's shape: a mask (1,S,S) in [0,1], by name (square, circle) or from a PNG's alpha channel."""

import numpy as np
import torch

from patchgen.config import SHAPES
from patchgen.errors import UserError
from patchgen.image_io import read_image


def shape_mask(shape: str, size: int) -> torch.Tensor:
    if shape == "square":
        return torch.ones(1, size, size)
    if shape == "circle":
        r = (torch.arange(size) + 0.5 - size / 2) / (size / 2)
        return ((r[None, :] ** 2 + r[:, None] ** 2) <= 1).float()[None]
    return mask_from_png(shape, size)


def mask_from_png(path, size: int) -> torch.Tensor:
    """The alpha channel of an image file, resized to size x size (area-averaged: soft edges stay soft)."""
    import cv2

    rgba = read_image(path, keep_alpha=True)
    if rgba.shape[2] < 4 or rgba[:, :, 3].min() == 255:
        raise UserError(f"mask {path} has no transparent pixels: its alpha channel is the shape, so make the "
                        f"outside transparent (or use artifact.shape {' or '.join(SHAPES)})")
    alpha = cv2.resize(rgba[:, :, 3], (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    if alpha.max() == 0:
        raise UserError(f"mask {path} is transparent everywhere: there is no shape in it")
    return torch.from_numpy(alpha)[None]
