"""Placement `on_targets`: one artifact on each target box's torso, its side a fraction of the box diagonal
(Thys et al. 2019: 0.2 of the diagonal, centred at 0.4 of the box height from the top)."""

import torch

from patchgen import eot
from patchgen.placements.base import Placement, box_homography, boxes_or_unit


def torso(boxes: torch.Tensor, anchor_y: float = 0.4) -> tuple[torch.Tensor, torch.Tensor]:
    """(…,4) xyxy boxes -> the x and y (…) where the artifact's centre goes on each."""
    return (boxes[..., 0] + boxes[..., 2]) / 2, boxes[..., 1] + anchor_y * (boxes[..., 3] - boxes[..., 1])


def torso_homography(boxes: torch.Tensor, artifact_px: int, scale: float = 0.2, anchor_y: float = 0.4):
    """(…,4) xyxy boxes -> (…,3,3): the artifact centred at (box centre x, top + anchor_y x height), its side
    `scale` x the box diagonal."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    s = scale * torch.hypot(x2 - x1, y2 - y1) / artifact_px
    return box_homography(*torso(boxes, anchor_y), s, s, artifact_px)


class OnTargets(Placement):
    def slots(self, scenes) -> int:
        return scenes.mask.shape[1]

    def base(self, scenes, params):
        valid = scenes.mask
        boxes = boxes_or_unit(scenes.boxes, valid, self.side)
        placement = self.config.placement
        return torso_homography(boxes.reshape(-1, 4), self.side, placement.scale, placement.anchor_y), valid

    def describe(self) -> str:
        p = self.config.placement
        return f"on each target, {p.scale:g} of its box diagonal, centred at {p.anchor_y:g} of its height"

    def window(self, scenes) -> int:
        return eot.window_size(eot.reach(scenes.max_diagonal() * self.config.placement.scale, self.config.eot))

    @classmethod
    def physical_scale(cls, config) -> dict:
        return {"on": "box", "side_of_diagonal": config.placement.scale}
