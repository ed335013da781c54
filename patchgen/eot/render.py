"""Expectation over transformation, part 2: apply sampled params to an artifact and paste it into scenes.

Photometric parts are batched tensor ops on the artifact; the cloth warp (a thin-plate spline, when eot.tps asks
for one) bends it in its own pixels; the geometric parts (placement, rotation, scale, translation, perspective)
compose into one 3x3 matrix per instance (patchgen.placements) and one warp. Each instance is warped into a small
window around its placement, not the whole image, and composited in place (patchgen.eot.composite)."""

import math

import kornia
import torch

from patchgen.eot.cloth import cloth_warp
from patchgen.eot.composite import composite
from patchgen.eot.params import EOTSettings, Params
from patchgen.eot.warp import warp_into_image

_UNIT = {}


def unit_square(device, dtype) -> torch.Tensor:
    """(4,2) corners TL, TR, BR, BL of the unit square, made once per device (no copy inside the step)."""
    if (device, dtype) not in _UNIT:
        _UNIT[device, dtype] = torch.tensor([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=dtype, device=device)
    return _UNIT[device, dtype]


def jitter_matrix(params: Params, side: int) -> torch.Tensor:
    """(n,3,3) artifact px -> artifact px: where each corner goes after perspective, rotation, scale, shift."""
    # artifact px are pixel centres (0 .. side-1), so with no jitter the corners map onto themselves: identity
    unit = unit_square(params.angle.device, params.angle.dtype)
    src = (unit * (side - 1)).expand(len(params), 4, 2)
    centred = (unit - 0.5 + params.corners) * (side - 1)
    cos, sin = params.angle.cos()[:, None], params.angle.sin()[:, None]
    x, y = centred[..., 0], centred[..., 1]
    rotated = torch.stack([cos * x - sin * y, sin * x + cos * y], -1) * params.scale[:, None, None]
    dst = rotated + (side - 1) / 2 + params.translate[:, None, :] * side
    return kornia.geometry.transform.get_perspective_transform(src, dst)


def photometric(artifact: torch.Tensor, params: Params, colour_model=None) -> torch.Tensor:
    """(3,S,S), or (n,3,S,S) one per instance -> (n,3,S,S): printer colours, colour slack, lighting, sensor noise,
    defocus."""
    printed = colour_model(artifact) if colour_model is not None else artifact
    x = printed * params.colour_gain[:, :, None, None]
    x = x * params.contrast[:, None, None, None] + params.brightness[:, None, None, None]
    x = (x + params.noise).clamp(0, 1)
    sigma = params.blur_sigma[:, None].expand(-1, 2)
    return kornia.filters.gaussian_blur2d(x, (5, 5), sigma, border_type="replicate")


def reach(side: float, settings: EOTSettings) -> float:
    """The farthest any pixel of an artifact placed `side` px wide gets from its placement's centre under these
    ranges (the largest scale, the farthest corner after perspective, at any rotation, plus the shift)."""
    grown = side * max(settings.scale)
    corner = grown * (math.sqrt(2) / 2 * (1 + 2 * settings.perspective + 2 * settings.tps))  # a warp moves it too
    return corner + side * settings.translate * math.sqrt(2)


def window_size(reach_px: float) -> int:
    """Side of a square window sure to hold an artifact that reaches reach_px from its centre."""
    return int(math.ceil(2 * reach_px * 1.1)) + 4


def render(artifact: torch.Tensor, mask: torch.Tensor, images: torch.Tensor, placed, params: Params,
           colour_model=None, window: int | None = None) -> torch.Tensor:
    """Paste one transformed artifact into each valid slot of placed (B*n instances, n slots per image).
    artifact (3,S,S) and mask (1,S,S) are the same for every instance, or (B*n,3,S,S) and (B*n,1,S,S) one each
    (a texture's crops, a sticker set's pieces: an artifact's `appearance(params)`).
    window: see window_size(); None sizes it from these footprints (a host sync: fine outside the training step,
    where Setup passes one computed once from the run's own ranges)."""
    b, n = placed.valid.shape
    h, w = images.shape[-2:]
    side = artifact.shape[-1]
    if window is None:
        extent = placed.footprint()[placed.valid]
        window = window_size(float((extent[:, 2:] - extent[:, :2]).max()) / 2) if len(extent) else 4
    k = min(int(window), h, w)
    rgb = photometric(artifact, params, colour_model)
    # premultiplied alpha: warping blends edges with zeros, which then composites without dark fringes
    rgba = cloth_warp(torch.cat([rgb * mask, mask.expand(len(params), 1, side, side)], 1), params.tps)
    matrix = placed.matrix
    centre = matrix[:, :, :2].sum(-1) * (side / 2) + matrix[:, :, 2]  # matrix @ (side/2, side/2, 1)
    corner = (centre[:, :2] / centre[:, 2:] - k / 2).floor()
    # a window pushed back inside the image still covers every in-image pixel of the artifact
    origin = torch.stack([corner[:, 0].clamp(0, w - k), corner[:, 1].clamp(0, h - k)], 1)
    to_window = torch.eye(3, device=matrix.device).repeat(len(matrix), 1, 1)
    to_window[:, :2, 2] = -origin
    warped = warp_into_image(rgba, to_window @ matrix, (k, k))
    warped = warped * placed.valid.reshape(-1, 1, 1, 1).to(warped.dtype)

    steps = torch.arange(k, device=images.device)
    offsets = (steps[:, None] * w + steps[None, :]).reshape(1, -1)  # (1, k*k) within a window
    start = (origin[:, 1] * w + origin[:, 0]).long().view(b, n)
    colours, alphas = warped.view(b, n, 4, k * k).split([3, 1], dim=2)
    return composite(images.flatten(2), colours, alphas, start, offsets).view(b, 3, h, w)
