"""Placement `torso`: a texture over each target's shirt front, the rectangle placement.region of its box
(fractions x1 y1 x2 y2; by default the torso of a standing person). The artifact's square crop is stretched onto
the rectangle, as fabric stretches over a body; EOT's jitter and cloth warp bend it from there."""

from patchgen import eot
from patchgen.placements.base import Placement, box_homography, boxes_or_unit


class Torso(Placement):
    def slots(self, scenes) -> int:
        return scenes.mask.shape[1]

    def base(self, scenes, params):
        valid = scenes.mask
        x1, y1, x2, y2 = boxes_or_unit(scenes.boxes, valid, self.side).reshape(-1, 4).unbind(-1)
        u1, v1, u2, v2 = self.config.placement.region
        w, h = x2 - x1, y2 - y1
        cx, cy = x1 + w * (u1 + u2) / 2, y1 + h * (v1 + v2) / 2
        return box_homography(cx, cy, w * (u2 - u1) / self.side, h * (v2 - v1) / self.side, self.side), valid

    def describe(self) -> str:
        return f"over each target's torso, the box region {list(self.config.placement.region)} (x1 y1 x2 y2)"

    def window(self, scenes) -> int:
        u1, v1, u2, v2 = self.config.placement.region
        longest = scenes.max_diagonal() * max(u2 - u1, v2 - v1)  # a side of the region is at most this
        return eot.window_size(eot.reach(longest, self.config.eot))

    @classmethod
    def physical_scale(cls, config) -> dict:
        """The square is stretched over the region, so its width and height are the region's."""
        u1, v1, u2, v2 = config.placement.region
        return {"on": "box", "width": round(u2 - u1, 6), "height": round(v2 - v1, 6),
                "region": list(config.placement.region)}
