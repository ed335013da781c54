"""Placement `whole_image`: the artifact is the whole input, stretched over it (Nguyen et al. 2015's fooling
images; a few-pixel attack's canvas, Su et al. 2019). What lies under it shows only where its mask is open: a
patch covers every pixel, a `pixels` artifact only its k pixels."""

import torch

from patchgen.placements.base import Placement, box_homography


class WholeImage(Placement):
    def slots(self, scenes) -> int:
        return 1

    def base(self, scenes, params):
        h, w = scenes.images.shape[-2:]
        n = len(scenes.images)
        one = torch.ones(n, device=scenes.images.device)
        # artifact px centres onto image px centres: its edges on the image's edges
        matrix = box_homography(one * (w - 1) / 2, one * (h - 1) / 2, one * w / self.side, one * h / self.side,
                                self.side)
        return matrix, torch.ones(n, 1, dtype=torch.bool, device=matrix.device)

    def describe(self) -> str:
        return "over the whole input image"

    def window(self, scenes) -> int:
        return max(scenes.images.shape[-2:])

    @classmethod
    def physical_scale(cls, config) -> dict:
        """The artifact is the camera's whole view: a print of it fills the frame."""
        return {"on": "image", "width": 1.0, "height": 1.0}
