"""Loss term `tv`: mean absolute difference between neighbouring pixels. Smooth artifacts survive printing and
distance (Sharif et al. 2016; Thys et al. 2019)."""

import torch


def total_variation(image: torch.Tensor) -> torch.Tensor:
    dx = (image[..., :, 1:] - image[..., :, :-1]).abs().mean()
    dy = (image[..., 1:, :] - image[..., :-1, :]).abs().mean()
    return dx + dy


class TotalVariation:
    def __init__(self, config, device):
        """Nothing to prepare; every term is built from (config, device)."""

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return total_variation(image)
