"""The simulated printers: the inkjet distortion does what its docstring says (range, neutrality, gamut, hue)."""

import math

import numpy as np
import torch
from skimage.color import rgb2lab

from printing.print_simulation import DISTORTIONS, InkjetColourDistortion, PrintColourDistortion


def _colours(*rgb):
    return torch.tensor(rgb, dtype=torch.float32).T.reshape(3, len(rgb), 1)


def test_inkjet_range_and_greys_stay_neutral():
    d = InkjetColourDistortion()
    out = d(_colours((0, 0, 0), (1, 1, 1), (0.5, 0.5, 0.5), (1, 0, 0), (0, 0, 1)))
    assert out.min() >= 0.08 - 1e-5 and out.max() <= 0.92 + 1e-5
    rows = out.reshape(3, -1).T
    assert torch.allclose(rows[0], torch.full((3,), 0.08), atol=1e-3)
    assert torch.allclose(rows[1], torch.full((3,), 0.92), atol=1e-3)
    assert (rows[2].max() - rows[2].min()) < 2e-3 and rows[2].mean() < 0.45  # dot gain: mid grey darker


def test_inkjet_compresses_chroma_and_turns_hue():
    d = InkjetColourDistortion(black=0.0, white=1.0, dot_gain_gamma=1.0)
    rgb = _colours((0.7, 0.3, 0.3), (0.3, 0.6, 0.4))
    lab_in = torch.from_numpy(rgb2lab(rgb.reshape(3, -1).T.numpy()))
    lab_out = torch.from_numpy(rgb2lab(d(rgb).reshape(3, -1).T.numpy()))
    chroma = lambda lab: torch.linalg.norm(lab[:, 1:], dim=1)  # noqa: E731
    assert torch.allclose(chroma(lab_out) / chroma(lab_in), torch.full((2,), 0.6), atol=0.02)
    hue = lambda lab: torch.atan2(lab[:, 2], lab[:, 1])  # noqa: E731
    turn = torch.rad2deg(torch.remainder(hue(lab_out) - hue(lab_in) + math.pi, 2 * math.pi) - math.pi)
    assert torch.allclose(turn, torch.full((2,), 12.0), atol=1.0)


def test_distortions_batched_differentiable_and_uint8():
    for cls in DISTORTIONS.values():
        d = cls()
        x = torch.rand(2, 3, 5, 5, requires_grad=True)
        y = d(x)
        assert y.shape == x.shape and torch.allclose(y[1], d(x[1].detach()), atol=1e-5)
        y.sum().backward()
        assert torch.isfinite(x.grad).all()
        img = (np.random.default_rng(0).random((4, 6, 3)) * 255).astype(np.uint8)
        assert d.apply_uint8(img).shape == img.shape
    assert DISTORTIONS["tonal"] is PrintColourDistortion
