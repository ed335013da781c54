"""Printable colours: a palette file and the non-printability score (NPS, after Sharif et al. 2016)."""

from pathlib import Path

import numpy as np
import torch

from patchgen.errors import UserError

DEFAULT_PALETTE = Path(__file__).parent / "palettes" / "default_gamut64.txt"


def load_palette(path=None) -> torch.Tensor:
    """(K,3) colours in [0,1] from a palette file (default: the packaged conservative gamut)."""
    path = Path(path) if path else DEFAULT_PALETTE
    if not path.is_file():
        raise UserError(f"palette file not found: {path}")
    try:
        colours = np.loadtxt(path, comments="#", ndmin=2, dtype=np.float32)
    except ValueError:
        raise UserError(f"palette {path}: every line must be three numbers 'r g b' in [0,1]") from None
    if colours.shape[1] != 3 or not np.isfinite(colours).all() or colours.min() < 0 or colours.max() > 1:
        raise UserError(f"palette {path}: every line must be three numbers 'r g b' in [0,1]")
    return torch.from_numpy(colours)


def non_printability_score(images: torch.Tensor, palette: torch.Tensor) -> torch.Tensor:
    """(B,3,H,W) or (3,H,W) -> (B,) or (): mean over pixels of the distance to the nearest palette colour."""
    batched = images if images.dim() == 4 else images.unsqueeze(0)
    pixels = batched.flatten(2).transpose(1, 2)  # (B,HW,3)
    nearest = torch.cdist(pixels, palette.to(pixels)[None].expand(len(pixels), -1, -1)).amin(-1)
    score = nearest.mean(-1)
    return score if images.dim() == 4 else score[0]
