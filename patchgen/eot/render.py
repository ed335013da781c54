"""Expectation over transformation, part 2: apply sampled params to an artifact and paste it into scenes.

Photometric parts are batched tensor ops on the artifact; the geometric parts (placement, rotation, scale,
translation, perspective) compose into one 3x3 matrix per instance and one warp."""

import kornia
import torch

from patchgen.eot.params import Params
from patchgen.eot.warp import warp_into_image
from patchgen.placement import torso_homography


def jitter_matrix(params: Params, side: int) -> torch.Tensor:
    """(n,3,3) artifact px -> artifact px: where each corner goes after perspective, rotation, scale, shift."""
    unit = torch.tensor([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=params.angle.dtype, device=params.angle.device)
    src = (unit * (side - 1)).expand(len(params), 4, 2)
    centred = (unit - 0.5 + params.corners) * side
    cos, sin = params.angle.cos()[:, None], params.angle.sin()[:, None]
    x, y = centred[..., 0], centred[..., 1]
    rotated = torch.stack([cos * x - sin * y, sin * x + cos * y], -1) * params.scale[:, None, None]
    dst = rotated + (0.5 + params.translate[:, None, :]) * side
    return kornia.geometry.transform.get_perspective_transform(src, dst)


def photometric(artifact: torch.Tensor, params: Params, colour_model=None) -> torch.Tensor:
    """(3,S,S) -> (n,3,S,S): printer colours, colour slack, lighting, sensor noise, defocus."""
    printed = colour_model(artifact) if colour_model is not None else artifact
    x = printed.unsqueeze(0) * params.colour_gain[:, :, None, None]
    x = x * params.contrast[:, None, None, None] + params.brightness[:, None, None, None]
    x = (x + params.noise).clamp(0, 1)
    sigma = params.blur_sigma[:, None].expand(-1, 2)
    return kornia.filters.gaussian_blur2d(x, (5, 5), sigma, border_type="replicate")


def render(artifact: torch.Tensor, mask: torch.Tensor, scenes, params: Params, scale: float = 0.2,
           anchor_y: float = 0.4, colour_model=None) -> torch.Tensor:
    """Paste one transformed artifact on every valid target box. params hold B*N instances (N = box slots)."""
    images, boxes, valid = scenes.images, scenes.boxes, scenes.mask
    b, n = valid.shape
    h, w = images.shape[-2:]
    side = artifact.shape[-1]
    rgb = photometric(artifact, params, colour_model)
    # premultiplied alpha: warping blends edges with zeros, which then composites without dark fringes
    rgba = torch.cat([rgb * mask, mask.expand(len(params), 1, side, side)], 1)
    # empty box slots get a unit box: a zero-size box has a singular homography, and NaN * 0 is still NaN
    boxes = torch.where(valid[..., None], boxes, torch.tensor([0.0, 0.0, side, side], device=boxes.device))
    matrix = torso_homography(boxes.reshape(-1, 4), side, scale, anchor_y) @ jitter_matrix(params, side)
    warped = warp_into_image(rgba, matrix, (h, w))
    warped = warped.view(b, n, 4, h, w) * valid.view(b, n, 1, 1, 1).to(warped.dtype)
    out = images
    for slot in range(n):  # few slots (targets per image); each step is batched over the whole batch
        colour, alpha = warped[:, slot, :3], warped[:, slot, 3:]
        out = out * (1 - alpha) + colour
    return out
