"""Cloth deformation: a thin-plate-spline warp of the artifact through a grid of control points, each moved by
its sampled offset (eot.tps, eot.tps_grid). Fabric folds and stretches smoothly; a TPS through a few moved points
is the usual stand-in (Xu et al. 2020's Adversarial T-shirt). With zero offsets it is the identity."""

import kornia
import torch

_GRIDS = {}


def control_points(grid: int, device, dtype) -> torch.Tensor:
    """(grid*grid, 2) points evenly over the artifact, in grid_sample's corner-aligned [-1, 1] frame."""
    key = (grid, device, dtype)
    if key not in _GRIDS:
        line = torch.linspace(-1, 1, grid, device=device, dtype=dtype)
        ys, xs = torch.meshgrid(line, line, indexing="ij")
        _GRIDS[key] = torch.stack([xs, ys], -1).view(-1, 2)
    return _GRIDS[key]


def cloth_warp(rgba: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """rgba (n,C,S,S), offsets (n,G*G,2) fractions of the side -> (n,C,S,S): each control point's content moved by
    its offset, the rest following smoothly. No control points (G = 0): the input as it is."""
    count = offsets.shape[1]
    if count == 0:
        return rgba
    grid = round(count**0.5)
    source = control_points(grid, rgba.device, torch.float32).expand(len(offsets), count, 2)
    moved = source + 2 * offsets.float()  # the frame spans 2 units per side
    # warp_image_tps samples the input at T(output pixel): the transform must map moved points back to their sources
    kernel, affine = kornia.geometry.transform.get_tps_transform(moved, source)
    warped = kornia.geometry.transform.warp_image_tps(rgba.float(), moved, kernel, affine, align_corners=True)
    return warped.to(rgba.dtype)
