"""CIELAB and the CIEDE2000 colour difference (kornia has rgb_to_lab but no ΔE2000), batched and differentiable."""

import math

import kornia.color
import torch


def rgb_to_lab(rgb01: torch.Tensor) -> torch.Tensor:
    """(..., 3) sRGB in [0,1] -> (..., 3) CIELAB (D65), via kornia (which wants channels first)."""
    flat = rgb01.reshape(-1, 3).clamp(0, 1).T.reshape(1, 3, -1, 1)
    return kornia.color.rgb_to_lab(flat).reshape(3, -1).T.reshape(rgb01.shape)


def delta_e2000(lab1: torch.Tensor, lab2: torch.Tensor) -> torch.Tensor:
    """CIEDE2000 between (..., 3) Lab tensors (Sharma, Wu & Dalal 2005; kL = kC = kH = 1)."""
    L1, a1, b1 = lab1.unbind(-1)
    L2, a2, b2 = lab2.unbind(-1)
    eps = 1e-12
    C1 = torch.sqrt(a1**2 + b1**2 + eps)
    C2 = torch.sqrt(a2**2 + b2**2 + eps)
    C_mean = (C1 + C2) / 2
    G = 0.5 * (1 - torch.sqrt(C_mean**7 / (C_mean**7 + 25.0**7)))
    a1p, a2p = (1 + G) * a1, (1 + G) * a2
    C1p = torch.sqrt(a1p**2 + b1**2 + eps)
    C2p = torch.sqrt(a2p**2 + b2**2 + eps)
    h1p = torch.remainder(torch.atan2(b1, a1p), 2 * math.pi)
    h2p = torch.remainder(torch.atan2(b2, a2p), 2 * math.pi)

    dLp = L2 - L1
    dCp = C2p - C1p
    dh = h2p - h1p
    dh = torch.where(dh > math.pi, dh - 2 * math.pi, dh)
    dh = torch.where(dh < -math.pi, dh + 2 * math.pi, dh)
    # A hue is undefined for a neutral colour: its difference counts as zero.
    chroma_zero = (C1p * C2p) < 1e-6
    dh = torch.where(chroma_zero, torch.zeros_like(dh), dh)
    dHp = 2 * torch.sqrt(C1p * C2p) * torch.sin(dh / 2)

    Lp_mean = (L1 + L2) / 2
    Cp_mean = (C1p + C2p) / 2
    h_sum = h1p + h2p
    wrapped = torch.where(h_sum >= 2 * math.pi, h_sum - 2 * math.pi, h_sum + 2 * math.pi)
    h_mean = torch.where((h1p - h2p).abs() > math.pi, wrapped, h_sum) / 2
    h_mean = torch.where(chroma_zero, h_sum, h_mean)

    T = (1 - 0.17 * torch.cos(h_mean - math.radians(30)) + 0.24 * torch.cos(2 * h_mean)
         + 0.32 * torch.cos(3 * h_mean + math.radians(6)) - 0.20 * torch.cos(4 * h_mean - math.radians(63)))
    d_theta = math.radians(30) * torch.exp(-(((torch.rad2deg(h_mean) - 275) / 25) ** 2))
    R_C = 2 * torch.sqrt(Cp_mean**7 / (Cp_mean**7 + 25.0**7))
    S_L = 1 + 0.015 * (Lp_mean - 50) ** 2 / torch.sqrt(20 + (Lp_mean - 50) ** 2)
    S_C = 1 + 0.045 * Cp_mean
    S_H = 1 + 0.015 * Cp_mean * T
    R_T = -torch.sin(2 * d_theta) * R_C
    return torch.sqrt((dLp / S_L) ** 2 + (dCp / S_C) ** 2 + (dHp / S_H) ** 2
                      + R_T * (dCp / S_C) * (dHp / S_H) + eps)


def delta_e2000_rgb(rgb1: torch.Tensor, rgb2: torch.Tensor) -> torch.Tensor:
    """CIEDE2000 between (..., 3) sRGB colours in [0,1]."""
    return delta_e2000(rgb_to_lab(rgb1), rgb_to_lab(rgb2))
