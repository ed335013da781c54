"""Where an artifact sits in a scene: a base homography per target box, from artifact pixels to image pixels."""

import torch


def torso_homography(boxes: torch.Tensor, artifact_px: int, scale: float = 0.2, anchor_y: float = 0.4):
    """(…,4) xyxy boxes -> (…,3,3): the artifact centred at (box centre x, top + anchor_y x height), its side
    `scale` x the box diagonal (Thys et al. 2019 place the patch on the torso at 0.2 of the diagonal)."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    side = scale * torch.hypot(x2 - x1, y2 - y1)
    cx, cy = (x1 + x2) / 2, y1 + anchor_y * (y2 - y1)
    s = side / artifact_px
    zero, one = torch.zeros_like(s), torch.ones_like(s)
    # image = s * (artifact - artifact_px/2) + centre
    rows = [s, zero, cx - s * artifact_px / 2, zero, s, cy - s * artifact_px / 2, zero, zero, one]
    return torch.stack(rows, -1).reshape(*boxes.shape[:-1], 3, 3)
