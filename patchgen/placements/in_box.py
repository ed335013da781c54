"""Placement `in_box`: a sticker set on each target, piece k centred at artifact.pieces[k].centre (fractions of
the box width and height from its top-left corner), its side artifact.pieces[k].side x the box diagonal. Each
piece is its own instance, so EOT jitters every piece on its own, as hand-stuck stickers are."""

import torch

from patchgen import eot
from patchgen.placements.base import Placement, box_homography, boxes_or_unit


class InBox(Placement):
    def __init__(self, config, artifact_px: int, fill: float):
        super().__init__(config, artifact_px, fill)
        pieces = config.artifact.pieces
        self.centres = [p.centre for p in pieces]
        self.sides = [p.side for p in pieces]

    def slots(self, scenes) -> int:
        return scenes.mask.shape[1] * len(self.sides)

    def base(self, scenes, params):
        valid = scenes.mask  # (B,N)
        boxes = boxes_or_unit(scenes.boxes, valid, self.side)[:, :, None, :]  # (B,N,1,4)
        x1, y1, x2, y2 = boxes.unbind(-1)
        w, h = x2 - x1, y2 - y1
        # per piece, as scalars times box tensors: no tensor made from Python values (a copy) in the step
        cx = torch.cat([x1 + u * w for u, _ in self.centres], -1)  # (B,N,K)
        cy = torch.cat([y1 + v * h for _, v in self.centres], -1)
        diagonal = torch.hypot(w, h)
        s = torch.cat([diagonal * side / self.side for side in self.sides], -1)
        matrix = box_homography(cx, cy, s, s, self.side).reshape(-1, 3, 3)
        pieces_valid = valid[:, :, None].expand(-1, -1, len(self.sides)).reshape(len(valid), -1)
        return matrix, pieces_valid

    def describe(self) -> str:
        pieces = ", ".join(f"side {s:g} at ({u:g}, {v:g})" for (u, v), s in zip(self.centres, self.sides))
        return f"{len(self.sides)} stickers on each target (box diagonal fractions, box-relative centres): {pieces}"

    def window(self, scenes) -> int:
        return eot.window_size(eot.reach(scenes.max_diagonal() * max(self.sides), self.config.eot))

    @classmethod
    def physical_scale(cls, config) -> dict:
        return {"on": "box", "piece_sides_of_diagonal": [p.side for p in config.artifact.pieces]}
