"""Artifact kind `texture`: a tileable image, read through random toroidal crops (any square of its infinite
tiling is an attack), so it can be printed as fabric of any size (TC-EGA, Hu et al. 2022). The tile is
artifact.size px; each instance pastes an artifact.crop px square of the tiling, from a place EOT draws; with
artifact.cell > 1 each trained value covers cell x cell px (upsampled with wrap-around, so the tile stays
seamless). Saved as patch.png (the tile, opaque) + safetensors."""

import torch
from PIL import Image
from safetensors.torch import save_file

from patchgen.artifacts.base import Artifact
from patchgen.artifacts.tiling import toroidal_crops, wrapped_upsample
from patchgen.atomic import atomic_save
from patchgen.tensor_file import read_tensors


class Texture(Artifact):
    kind = "texture"
    tiled = True

    def __init__(self, size: int, crop: int = 0, cell: int = 1, init: str = "grey", generator=None):
        super().__init__()
        cells = size // cell  # the config check makes size a multiple of cell
        self.cell = cell
        self.logits = torch.nn.Parameter(self.initial_logits(cells, init, generator))
        self.register_buffer("mask", torch.ones(1, crop or size, crop or size))  # a crop is opaque everywhere

    @staticmethod
    def initial_logits(cells: int, init: str, generator) -> torch.Tensor:
        if init == "grey":
            return torch.zeros(3, cells, cells)
        rand = torch.rand(3, cells, cells, generator=generator, device=generator.device if generator else None)
        return torch.logit(rand.cpu().clamp(0.02, 0.98))

    @classmethod
    def from_config(cls, artifact, generator) -> "Texture":
        return cls(artifact.size, artifact.crop, artifact.cell, artifact.init, generator)

    @property
    def tile_px(self) -> int:
        return self.logits.shape[-1] * self.cell

    @property
    def crop_px(self) -> int:
        return self.mask.shape[-1]

    def forward(self) -> torch.Tensor:
        """The tile, (3,T,T)."""
        return wrapped_upsample(torch.sigmoid(self.logits), self.cell)

    def appearance(self, params):
        return toroidal_crops(self(), params.crop, self.crop_px), self.mask

    def random_like(self, generator) -> "Texture":
        """Uniform-random values at the same cell size: noise of the same grain."""
        noise = type(self)(self.tile_px, self.crop_px, self.cell, "random", generator).to(self.mask.device)
        return noise

    def sidecar(self) -> dict:
        return {"tile_px": self.tile_px, "crop_px": self.crop_px, "cell_px": self.cell}

    def tensors(self) -> dict:
        return {"logits": self.logits.detach().cpu().contiguous()}

    def save_files(self, tensors_path, png_path) -> None:
        meta = {"kind": self.kind, "crop": str(self.crop_px), "cell": str(self.cell)}
        atomic_save(tensors_path, lambda tmp: save_file(self.tensors(), tmp, meta))
        atomic_save(png_path, lambda tmp: Image.fromarray(self.rgba_uint8(), "RGBA").save(tmp, "PNG"))

    def rgba_uint8(self):
        tile = self().detach()
        opaque = torch.ones(1, *tile.shape[1:], device=tile.device)
        rgba = torch.cat([tile, opaque]).clamp(0, 1).cpu()
        return (rgba.permute(1, 2, 0).numpy() * 255 + 0.5).astype("uint8")

    @classmethod
    def load_tensors(cls, path) -> "Texture":
        tensors, meta = read_tensors(path, cls.kind, ("logits", "crop", "cell"))
        cell = int(meta["cell"])
        texture = cls(tensors["logits"].shape[-1] * cell, int(meta["crop"]), cell)
        texture.logits.data.copy_(tensors["logits"])
        return texture
