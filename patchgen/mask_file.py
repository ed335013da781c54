"""A shape from a PNG: its alpha channel, checked (torch-free: the config check reads it before torch loads)."""

import numpy as np

from patchgen.errors import UserError
from patchgen.image_io import read_image


def mask_alpha(path) -> np.ndarray:
    """(H,W) uint8 alpha of an image file; a UserError when it is not an image or its alpha holds no shape."""
    alpha = read_image(path, keep_alpha=True)[:, :, 3]
    if alpha.min() == 255:
        raise UserError(f"mask {path} has no transparent pixels: its alpha channel is the shape, so make the "
                        f"outside transparent (or use square or circle)")
    if alpha.max() == 0:
        raise UserError(f"mask {path} is transparent everywhere: there is no shape in it")
    return alpha
