"""An artifact's shape: a mask (1,S,S) in [0,1], by name (square, circle) or from a PNG's alpha channel."""

import torch

from patchgen.mask_file import mask_alpha


def shape_mask(shape: str, size: int) -> torch.Tensor:
    if shape == "square":
        return torch.ones(1, size, size)
    if shape == "circle":
        r = (torch.arange(size) + 0.5 - size / 2) / (size / 2)
        return ((r[None, :] ** 2 + r[:, None] ** 2) <= 1).float()[None]
    return torch.from_numpy(mask_alpha(shape, size))[None]  # fitted into the square, aspect ratio kept
