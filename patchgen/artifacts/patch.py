"""Artifact kind `patch`: one square image with a shape mask. A sigmoid keeps every value in gamut whatever the
optimiser does. With artifact.cell > 1 it is trained at 1/cell of its side and upsampled smoothly (bilinear): a
low-resolution encoding, which gradient-free search explores far faster and which looks like shapes, not noise
(a fooling image's smooth encoding). Saved as PNG (RGBA: the alpha channel is the shape mask) + safetensors, never
pickle."""

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import save_file

from patchgen.artifacts.base import Artifact
from patchgen.artifacts.masks import shape_mask
from patchgen.atomic import atomic_save
from patchgen.tensor_file import read_tensors


class Patch(Artifact):
    kind = "patch"

    def __init__(self, size: int, shape: str = "square", init: str = "grey", generator=None, cell: int = 1):
        super().__init__()
        cells = size // cell  # the config check makes size a multiple of cell
        if init == "grey":
            logits = torch.zeros(3, cells, cells)
        else:  # "random" (the config check allows only these two)
            rand = torch.rand(3, cells, cells, generator=generator, device=generator.device if generator else None)
            logits = torch.logit(rand.cpu().clamp(0.02, 0.98))
        self.logits = torch.nn.Parameter(logits)
        self.register_buffer("mask", shape_mask(shape, size))
        self.shape_name = shape

    @classmethod
    def from_config(cls, artifact, generator) -> "Patch":
        return cls(artifact.size, artifact.shape, artifact.init, generator, artifact.cell)

    @property
    def size(self) -> int:
        return self.mask.shape[-1]

    def forward(self) -> torch.Tensor:
        logits = self.logits
        if logits.shape[-1] != self.size:
            logits = F.interpolate(logits[None], size=self.size, mode="bilinear", align_corners=False)[0]
        return torch.sigmoid(logits)

    @torch.no_grad()
    def set_image(self, rgb01: torch.Tensor):
        """Trained values from an image of the patch's side (averaged over each cell when cell > 1)."""
        if rgb01.shape[-1] != self.logits.shape[-1]:
            rgb01 = F.interpolate(rgb01[None], size=self.logits.shape[-1], mode="area")[0]
        self.logits.copy_(torch.logit(rgb01.clamp(1e-3, 1 - 1e-3)))

    def random_like(self, generator) -> "Patch":
        """Uniform-random pixels in the same shape."""
        noise = Patch(self.size).to(self.mask.device)
        noise.set_image(torch.rand(3, self.size, self.size, generator=generator, device=generator.device))
        noise.mask.copy_(self.mask)
        return noise

    def save_files(self, tensors_path, png_path) -> None:
        tensors = {"logits": self.logits.detach().cpu().contiguous(), "mask": self.mask.cpu().contiguous()}
        atomic_save(tensors_path, lambda tmp: save_file(tensors, tmp, {"shape": self.shape_name}))
        atomic_save(png_path, lambda tmp: Image.fromarray(self.rgba_uint8(), "RGBA").save(tmp, "PNG"))

    @classmethod
    def load_tensors(cls, path) -> "Patch":
        tensors, _ = read_tensors(path, "patch", ("logits", "mask"))
        size = tensors["mask"].shape[-1]
        patch = cls(size, cell=size // tensors["logits"].shape[-1])
        patch.logits.data.copy_(tensors["logits"])
        patch.mask.copy_(tensors["mask"])
        return patch

    @classmethod
    def from_rgba(cls, rgba01: np.ndarray) -> "Patch":
        """(S,S,4) float in [0,1]: colour and shape from any image (a peer's published patch)."""
        patch = cls(rgba01.shape[0])
        patch.set_image(torch.from_numpy(np.ascontiguousarray(rgba01[..., :3])).permute(2, 0, 1))
        patch.mask.copy_(torch.from_numpy(np.ascontiguousarray(rgba01[..., 3]))[None])
        return patch
