"""The colour model as EOT uses it: shapes, gradients, dtype/device moves, save/load without pickle."""

import numpy as np
import pytest
import torch

from patchgen.errors import UserError
from printing.colour_fit import fit_kind
from printing.colour_model import ColourModel, load_colour_model
from printing.print_simulation import PrintColourDistortion


@pytest.fixture(scope="module")
def samples():
    rgb = np.random.default_rng(0).random((300, 3))
    truth = PrintColourDistortion()(torch.tensor(rgb, dtype=torch.float32).T[:, :, None])[:, :, 0].T.numpy()
    return rgb, truth


@pytest.mark.parametrize("kind,size,reg", [("affine", 0, 0.0), ("poly", 3, 1e-4), ("lut", 7, 1e-2)])
def test_each_kind_fits_saves_loads_and_differentiates(samples, tmp_path, kind, size, reg):
    rgb, truth = samples
    model = fit_kind(rgb, truth, kind, size, reg)
    images = torch.rand(2, 3, 8, 9, generator=torch.Generator().manual_seed(1))
    out = model(images)
    assert out.shape == images.shape and 0 <= out.min() and out.max() <= 1
    assert model(images[0]).shape == images[0].shape
    assert torch.allclose(model(images[0]), out[0], atol=1e-6)
    # Close to the distortion it was fitted on (affine least, but still far better than nothing).
    error = (out - PrintColourDistortion()(images)).abs().mean()
    assert error < (0.05 if kind == "affine" else 0.02)
    assert error < (images - PrintColourDistortion()(images)).abs().mean() / 2

    leaf = images.clone().requires_grad_(True)
    model(leaf).sum().backward()
    assert leaf.grad is not None and leaf.grad.abs().sum() > 0

    assert model.double()(images.double()).dtype == torch.float64
    model = model.float()
    for suffix in (".json", ".safetensors"):
        model.save(tmp_path / f"m{suffix}")
        again = load_colour_model(tmp_path / f"m{suffix}")
        assert again.kind == kind and torch.allclose(again(images), out, atol=1e-6)


def test_identity_lut_is_identity():
    g = 5
    axis = torch.linspace(0, 1, g)
    b, gg, r = torch.meshgrid(axis, axis, axis, indexing="ij")
    model = ColourModel("lut", torch.stack([r, gg, b]), degree=g)
    x = torch.rand(1, 3, 4, 4)
    assert torch.allclose(model(x), x, atol=1e-5)


def test_bad_model_files_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_colour_model(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"kind": "poly", "degree": 2, "shape": [3, 3], "params": [0,0,0,0,0,0,0,0,0]}')
    with pytest.raises(UserError, match="not a colour model"):
        load_colour_model(tmp_path / "bad.json")
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    with pytest.raises(UserError, match="not a colour model"):
        load_colour_model(tmp_path / "junk.safetensors")
    with pytest.raises(ValueError):
        ColourModel("affine", torch.zeros(3, 4))(torch.zeros(2, 4, 5, 5))
