"""An artifact's shape: a mask (1,S,S) in [0,1], by name (square, circle) or from a PNG's alpha channel."""

import cv2
import numpy as np
import torch

from patchgen.mask_file import mask_alpha


def shape_mask(shape: str, size: int) -> torch.Tensor:
    if shape == "square":
        return torch.ones(1, size, size)
    if shape == "circle":
        r = (torch.arange(size) + 0.5 - size / 2) / (size / 2)
        return ((r[None, :] ** 2 + r[:, None] ** 2) <= 1).float()[None]
    return mask_from_png(shape, size)


def mask_from_png(path, size: int) -> torch.Tensor:
    """The alpha channel of an image file, resized to size x size (area-averaged: soft edges stay soft)."""
    alpha = cv2.resize(mask_alpha(path), (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    return torch.from_numpy(alpha)[None]
