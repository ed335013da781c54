"""One perspective warp per instance, from artifact pixels into the image.

Built by hand rather than with kornia's warp_perspective: a homography's vanishing line can cross the image, and
pixels on its far side (w <= 0) must sample nothing. A generic |w| > eps guard divides them anyway, which makes
mirrored ghost copies of the artifact, or NaN where w is 0."""

import torch
import torch.nn.functional as F

_PIXELS = {}


def pixel_grid(h: int, w: int, device, dtype) -> torch.Tensor:
    """(h*w, 3) homogeneous pixel centres (x, y, 1), cached per size and device."""
    key = (h, w, device, dtype)
    if key not in _PIXELS:
        ys, xs = torch.meshgrid(torch.arange(h, device=device, dtype=dtype),
                                torch.arange(w, device=device, dtype=dtype), indexing="ij")
        _PIXELS[key] = torch.stack([xs, ys, torch.ones_like(xs)], -1).view(-1, 3)
    return _PIXELS[key]


def warp_into_image(src: torch.Tensor, matrix: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """src (n,C,S,S) in artifact pixels; matrix (n,3,3) artifact px -> image px; returns (n,C,h,w)."""
    n, _, side_y, side_x = src.shape
    h, w = size
    inverse = torch.linalg.inv(matrix.float())  # image px -> artifact px
    points = pixel_grid(h, w, src.device, torch.float32) @ inverse.transpose(1, 2)  # (n, h*w, 3)
    depth = points[..., 2:]
    in_front = depth > 1e-8
    xy = points[..., :2] / torch.where(in_front, depth, torch.ones_like(depth))
    xy = torch.where(in_front, xy, torch.full_like(xy, -4.0 * max(side_x, side_y)))  # far outside: zeros
    grid = torch.stack([xy[..., 0] * (2.0 / (side_x - 1)), xy[..., 1] * (2.0 / (side_y - 1))], -1) - 1
    grid = grid.view(n, h, w, 2).to(src.dtype)
    return F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
