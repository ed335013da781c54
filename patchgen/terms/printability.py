"""Loss term `nps`: non-printability, each pixel's distance to the nearest colour the printer can make (Sharif
et al. 2016), against loss.palette (or the packaged default)."""

import torch

from printing.palette import load_palette, non_printability_score


class Printability:
    def __init__(self, config, device):
        self.palette = load_palette(config.loss.palette or None).to(device)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return non_printability_score(image, self.palette).mean()  # a sticker set's pieces: their mean
