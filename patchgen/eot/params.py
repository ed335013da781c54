"""Expectation over transformation, part 1: draw every random quantity of a step once, from the run's generator.

A `Params` holds tensors only, so a step can be replayed (same params, same images), logged and tested. The
ranges drawn from are the config's `EOTSettings` (patchgen.config, torch-free so config errors come first).
"""

from dataclasses import dataclass, fields

import torch

from patchgen.config import EOTSettings


@dataclass
class Params:
    angle: torch.Tensor  # (n,) radians
    scale: torch.Tensor  # (n,)
    translate: torch.Tensor  # (n,2) fraction of side
    corners: torch.Tensor  # (n,4,2) corner offsets, fraction of side
    brightness: torch.Tensor  # (n,)
    contrast: torch.Tensor  # (n,)
    noise: torch.Tensor  # (n,3,S,S)
    blur_sigma: torch.Tensor  # (n,)
    colour_gain: torch.Tensor  # (n,3)
    location: torch.Tensor  # (n,2) uniform [0,1]: where a placement that chooses its own place puts it (anywhere)
    # (n,G*G,2) thin-plate-spline control point offsets, fraction of side (G = 0 when there is no cloth warp)
    tps: torch.Tensor
    crop: torch.Tensor  # (n,2) uniform [0,1): where a tiled artifact's crop starts in its tile (x, y)

    def __len__(self):
        return self.angle.shape[0]

    def to(self, device) -> "Params":
        return Params(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})


def _uniform(n, low, high, generator, device, *shape):
    return low + (high - low) * torch.rand(n, *shape, generator=generator, device=device)


def sample(n: int, generator: torch.Generator, settings: EOTSettings, artifact_px: int, tiled: bool = False) -> Params:
    """n instances' worth of transformation parameters, on the generator's device. The cloth warp's offsets are
    drawn only when eot.tps asks for one and the crops only for a `tiled` artifact (a texture), so a patch run
    draws exactly what it drew before they existed: its steps, and a resumed run's, stay as they were."""
    device = generator.device
    rot = settings.rotation_deg * torch.pi / 180

    def u(low, high, *shape):
        return _uniform(n, low, high, generator, device, *shape)

    return Params(
        angle=u(-rot, rot),
        scale=u(*settings.scale),
        translate=u(-settings.translate, settings.translate, 2),
        corners=u(-settings.perspective, settings.perspective, 4, 2),
        brightness=u(-settings.brightness, settings.brightness),
        contrast=u(*settings.contrast),
        noise=u(-settings.noise, settings.noise, 3, artifact_px, artifact_px),
        blur_sigma=u(*settings.blur_sigma),
        colour_gain=u(1 - settings.colour_jitter, 1 + settings.colour_jitter, 3),
        location=u(0, 1, 2),
        tps=u(-settings.tps, settings.tps, settings.tps_grid**2, 2) if settings.tps else no_warp(n, device),
        crop=u(0, 1, 2) if tiled else torch.zeros(n, 2, device=device),
    )


def no_warp(n: int, device) -> torch.Tensor:
    """TPS offsets for no cloth warp: no control points at all (the renderer then skips the warp)."""
    return torch.zeros(n, 0, 2, device=device)


def identity(n: int, artifact_px: int, device="cpu") -> Params:
    """No transformation at all: the artifact exactly at its placement (digital evaluation)."""
    zeros, ones = torch.zeros(n, device=device), torch.ones(n, device=device)
    return Params(angle=zeros, scale=ones, translate=torch.zeros(n, 2, device=device),
                  corners=torch.zeros(n, 4, 2, device=device), brightness=zeros, contrast=ones,
                  noise=torch.zeros(n, 3, artifact_px, artifact_px, device=device),
                  blur_sigma=torch.full((n,), 1e-3, device=device), colour_gain=torch.ones(n, 3, device=device),
                  location=torch.full((n, 2), 0.5, device=device), tps=no_warp(n, device),
                  crop=torch.zeros(n, 2, device=device))
