"""What is trained: an `nn.Module` whose forward returns the printable image in [0,1]. Saved as PNG (RGBA: the
alpha channel is the shape mask) + safetensors, never pickle, with a sidecar JSON saying what produced it."""

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

from patchgen.atomic import atomic_save, atomic_write_json
from patchgen.errors import UserError, require_file
from patchgen.image_io import read_image
from patchgen.tensor_file import read_tensors

SHAPES = ("square", "circle")


def shape_mask(shape: str, size: int) -> torch.Tensor:
    if shape == "square":
        return torch.ones(1, size, size)
    if shape == "circle":
        r = (torch.arange(size) + 0.5 - size / 2) / (size / 2)
        return ((r[None, :] ** 2 + r[:, None] ** 2) <= 1).float()[None]
    raise UserError(f"artifact shape must be one of {', '.join(SHAPES)}, not {shape!r}")


class Patch(torch.nn.Module):
    """One square image with a shape mask. A sigmoid keeps every value in gamut whatever the optimiser does."""

    kind = "patch"

    def __init__(self, size: int, shape: str = "square", init: str = "grey", generator=None):
        super().__init__()
        if init == "grey":
            logits = torch.zeros(3, size, size)
        elif init == "random":
            rand = torch.rand(3, size, size, generator=generator, device=generator.device if generator else None)
            logits = torch.logit(rand.cpu().clamp(0.02, 0.98))
        else:
            raise UserError(f"artifact init must be grey or random, not {init!r}")
        self.logits = torch.nn.Parameter(logits)
        self.register_buffer("mask", shape_mask(shape, size))
        self.shape_name = shape

    @property
    def size(self) -> int:
        return self.logits.shape[-1]

    def forward(self) -> torch.Tensor:
        return torch.sigmoid(self.logits)

    @torch.no_grad()
    def set_image(self, rgb01: torch.Tensor):
        self.logits.copy_(torch.logit(rgb01.clamp(1e-3, 1 - 1e-3)))

    def rgba_uint8(self) -> np.ndarray:
        rgba = torch.cat([self().detach(), self.mask], 0).clamp(0, 1).cpu()
        return (rgba.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)

    def save(self, run_dir, sidecar: dict) -> None:
        run_dir = Path(run_dir)
        tensors = {"logits": self.logits.detach().cpu().contiguous(), "mask": self.mask.cpu().contiguous()}
        atomic_save(run_dir / "patch.safetensors", lambda tmp: save_file(tensors, tmp, {"shape": self.shape_name}))
        atomic_save(run_dir / "patch.png", lambda tmp: Image.fromarray(self.rgba_uint8(), "RGBA").save(tmp, "PNG"))
        atomic_write_json(run_dir / "patch.json", {"artifact": self.kind, "size_px": self.size,
                                                   "shape": self.shape_name, **sidecar})


def load_patch(path) -> Patch:
    """A run directory, a patch .safetensors, or any image (PNG/JPEG; alpha becomes the mask)."""
    path = Path(path)
    if path.is_dir():
        path = path / "patch.safetensors" if (path / "patch.safetensors").is_file() else path / "patch.png"
    require_file(path, "patch")
    if path.suffix == ".safetensors":
        tensors, _ = read_tensors(path, "patch", ("logits", "mask"))
        patch = Patch(tensors["logits"].shape[-1])
        patch.logits.data.copy_(tensors["logits"])
        patch.mask.copy_(tensors["mask"])
        return patch
    rgba = read_image(path, keep_alpha=True).astype(np.float32) / 255
    side = min(rgba.shape[:2])
    rgba = rgba[:side, :side]  # published patches are square; crop any odd extra row
    patch = Patch(side)
    patch.set_image(torch.from_numpy(rgba[..., :3]).permute(2, 0, 1))
    patch.mask.copy_(torch.from_numpy(rgba[..., 3])[None])
    return patch


def read_sidecar(run_dir) -> dict:
    path = Path(run_dir) / "patch.json"
    if not path.is_file():
        raise UserError(f"not a run directory (no patch.json): {run_dir}")
    return json.loads(path.read_text())


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels: smooth patches survive printing and distance."""
    dx = (image[..., :, 1:] - image[..., :, :-1]).abs().mean()
    dy = (image[..., 1:, :] - image[..., :-1, :]).abs().mean()
    return dx + dy


