"""Placement `anywhere`: one artifact per image at a uniform random place, sized so that its visible (masked)
part covers placement.area of the image (Brown et al. 2017's classifier patch; `appear`'s phantom). The place
keeps every jittered pixel inside the image, so the covered area is what was asked for."""

import math

import torch

from patchgen import eot
from patchgen.errors import UserError
from patchgen.placements.base import Placement


class Anywhere(Placement):
    def slots(self, scenes) -> int:
        return 1

    def side_px(self, scenes) -> float:
        """The artifact's side in image pixels: its mask covers placement.area of the image."""
        h, w = scenes.images.shape[-2:]
        return math.sqrt(self.config.placement.area * h * w / self.fill)

    def margin(self, scenes) -> float:
        """How far from every edge the centre must stay; a UserError when the artifact cannot fit at all."""
        h, w = scenes.images.shape[-2:]
        margin = eot.reach(self.side_px(scenes), self.config.eot)
        if 2 * margin > min(h, w):
            raise UserError(f"placement.area {self.config.placement.area:g} makes the artifact "
                            f"{self.side_px(scenes):.0f} px wide, too large to stay inside a {w}x{h} image under "
                            f"the EOT ranges: lower placement.area, eot.scale or eot.perspective")
        return margin

    def base(self, scenes, params):
        h, w = scenes.images.shape[-2:]
        margin = self.margin(scenes)
        # scalars only: a tensor made from Python values here would be a host-to-device copy every step
        x, y = params.location.unbind(1)
        centre = torch.stack([margin + x * (w - 2 * margin), margin + y * (h - 2 * margin)], 1)  # (B,2)
        s = self.side_px(scenes) / self.side
        matrix = torch.zeros(len(centre), 3, 3, device=centre.device)
        matrix[:, 0, 0] = matrix[:, 1, 1] = s
        matrix[:, :2, 2] = centre - s * (self.side - 1) / 2  # artifact px are pixel centres
        matrix[:, 2, 2] = 1
        return matrix, torch.ones(len(centre), 1, dtype=torch.bool, device=centre.device)

    def describe(self) -> str:
        return f"anywhere in the image, covering {self.config.placement.area:g} of its area"

    def window(self, scenes) -> int:
        return eot.window_size(self.margin(scenes))

    @classmethod
    def physical_scale(cls, config) -> dict:
        """Its visible part's share of the image's area: the square's side then depends on the mask's fill (a
        circle's square is larger than a square's), which the printed image itself shows."""
        return {"on": "image", "visible_area": config.placement.area}

    def evaluation_params(self, n, generator, tiled=False):
        """No photometric randomness, but a random place and rotation per image, as in training (the patch is
        judged anywhere in the image, not at one lucky spot); seeded, so every condition sees the same places."""
        params = super().evaluation_params(n, generator, tiled)
        rotation = self.config.eot.rotation_deg * math.pi / 180
        params.location = torch.rand(n, 2, generator=generator, device=generator.device)
        params.angle = (torch.rand(n, generator=generator, device=generator.device) * 2 - 1) * rotation
        return params
