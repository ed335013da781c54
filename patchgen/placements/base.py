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

    def place(self, scenes, params: eot.Params) -> Placed:
        base, valid = self.base(scenes, params)
        return Placed(base @ eot.jitter_matrix(params, self.side), valid, self.side)

    def evaluation_params(self, n: int, generator: torch.Generator) -> eot.Params:
        """Digital evaluation's params: no randomness at all (the artifact exactly at its placement)."""
        return eot.identity(n, self.side, generator.device)
