"""What every placement gives the renderer and the goals: `Placed`, the matrices and which slots are used."""

from dataclasses import dataclass

import torch

from patchgen import eot


@dataclass
class Placed:
    matrix: torch.Tensor  # (B*n,3,3) artifact px -> image px, EOT jitter included
    valid: torch.Tensor  # (B,n) bool: which slots hold an artifact
    side: int  # artifact px

    def footprint(self) -> torch.Tensor:
        """(B,n,4) xyxy image px: the box around each placed artifact's four corners."""
        lo, hi = -0.5, self.side - 0.5  # artifact px are pixel centres: its edges lie half a pixel out
        m = self.matrix  # scalars times its columns: no tensor made from Python values (a copy) in the step
        points = torch.stack([m[:, :, 0] * x + m[:, :, 1] * y + m[:, :, 2]
                              for x, y in ((lo, lo), (hi, lo), (hi, hi), (lo, hi))], 1)  # (B*n,4,3)
        xy = points[..., :2] / points[..., 2:]
        box = torch.cat([xy.amin(1), xy.amax(1)], -1)
        return box.view(*self.valid.shape, 4)


def box_homography(cx, cy, sx, sy, artifact_px: int) -> torch.Tensor:
    """(…) tensors -> (…,3,3): artifact px -> image px, the artifact's centre at (cx, cy), each artifact px sx
    image px wide and sy high. Artifact px are pixel centres, so the artifact's centre is (px - 1) / 2."""
    zero, one = torch.zeros_like(sx), torch.ones_like(sx)
    middle = (artifact_px - 1) / 2
    rows = [sx, zero, cx - sx * middle, zero, sy, cy - sy * middle, zero, zero, one]
    return torch.stack(rows, -1).reshape(*sx.shape, 3, 3)


def boxes_or_unit(boxes: torch.Tensor, valid: torch.Tensor, side: int) -> torch.Tensor:
    """Empty slots get a unit box: a zero-size box has a singular homography, and NaN * 0 is still NaN."""
    unit_box = torch.zeros_like(boxes)
    unit_box[..., 2:] = side
    return torch.where(valid[..., None], boxes, unit_box)


class Placement:
    """Subclasses give slots(scenes) and base(scenes, params) -> ((B*n,3,3) artifact px -> image px before the
    EOT jitter, (B,n) valid); the jitter composes on the artifact side of it."""

    def __init__(self, config, artifact_px: int, fill: float):
        self.config = config
        self.side = int(artifact_px)
        self.fill = float(fill)  # the mask's share of the artifact square

    def slots(self, scenes) -> int:
        raise NotImplementedError

    def base(self, scenes, params):
        raise NotImplementedError

    def describe(self) -> str:
        """For reports: where the artifact sits and how large."""
        raise NotImplementedError

    def window(self, scenes) -> int:
        """One window side for a whole run (a host sync, taken once, not per step)."""
        raise NotImplementedError

    @classmethod
    def physical_scale(cls, config) -> dict:
        """How large the artifact's square (its mask; a texture's crop) is against what it sits on, from the config
        alone (its placement and artifact sections): the run's sidecar records it, and `patchgen export` sizes the
        print from it and a real size of the target (printing/physical_scale.py). "on" is "box" (each target's
        box) or "image" (the whole input); then one of: side_of_diagonal (its side, a fraction of the box
        diagonal); width and height (fractions of the box's or image's); visible_area (its mask's share of the
        image's area); piece_sides_of_diagonal (stickers: each piece's side; the print is then the object)."""
        raise NotImplementedError

    def place(self, scenes, params: eot.Params) -> Placed:
        base, valid = self.base(scenes, params)
        return Placed(base @ eot.jitter_matrix(params, self.side), valid, self.side)

    def evaluation_params(self, n: int, generator: torch.Generator, tiled: bool = False) -> eot.Params:
        """Digital evaluation's params: no randomness (the artifact exactly at its placement), except a tiled
        artifact's crops: any square of its tiling must work, so each instance shows a random one (seeded)."""
        params = eot.identity(n, self.side, generator.device)
        if tiled:
            params.crop = torch.rand(n, 2, generator=generator, device=generator.device)
        return params
