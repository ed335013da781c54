"""Reading a tile as the infinite plane it repeats into: toroidal crops and wrap-around upsampling. Everything
that touches a texture's pixels goes through here, so no seam is ever computed as an edge."""

import torch
import torch.nn.functional as F


def toroidal_crops(tile: torch.Tensor, starts: torch.Tensor, side: int) -> torch.Tensor:
    """tile (C,T,T), starts (n,2) in [0,1) as fractions of the tile (x, y) -> (n,C,side,side): the square of the
    infinite tiling whose top-left pixel is at each start, wrapping past the tile's right and bottom edges."""
    size = tile.shape[-1]
    offsets = (starts * size).long().clamp(0, size - 1)  # (n,2)
    steps = torch.arange(side, device=tile.device)
    cols = (offsets[:, 0, None] + steps) % size  # (n,side)
    rows = (offsets[:, 1, None] + steps) % size
    crops = tile[:, rows[:, :, None], cols[:, None, :]]  # (C,n,side,side); the gradient scatters back
    return crops.transpose(0, 1)


def wrapped_upsample(cells: torch.Tensor, factor: int) -> torch.Tensor:
    """(C,L,L) -> (C,L*factor,L*factor) bilinear, as if the cells repeated forever: the result tiles seamlessly."""
    if factor == 1:
        return cells
    padded = F.pad(cells[None], (1, 1, 1, 1), mode="circular")
    up = F.interpolate(padded, scale_factor=factor, mode="bilinear", align_corners=False)
    return up[0, :, factor:-factor, factor:-factor]
