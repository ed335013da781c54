"""Artifact kind `stickers`: K small pieces trained jointly, each with its own shape, stuck at their own places on
the object (Eykholt et al. 2018: a few stickers on a stop sign). Every piece is artifact.size px square; where it
goes and how large it is are the config's artifact.pieces (box-relative, placement in_box). Saved as one PNG per
piece (sticker_K.png, RGBA: alpha the shape), patch.png a contact sheet of them, and safetensors."""

import json

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

from patchgen import run_dir
from patchgen.artifacts.base import Artifact
from patchgen.artifacts.masks import shape_mask
from patchgen.atomic import atomic_save
from patchgen.tensor_file import read_tensors


class Stickers(Artifact):
    kind = "stickers"

    def __init__(self, size: int, shapes: list[str], init: str = "grey", generator=None, layout=()):
        """layout: per piece {"centre": [u, v], "side": f, "shape": ...}, as the sidecar records it."""
        super().__init__()
        count = len(shapes)
        if init == "grey":
            logits = torch.zeros(count, 3, size, size)
        else:
            rand = torch.rand(count, 3, size, size, generator=generator, device=generator.device if generator else None)
            logits = torch.logit(rand.cpu().clamp(0.02, 0.98))
        self.logits = torch.nn.Parameter(logits)
        self.register_buffer("mask", torch.stack([shape_mask(shape, size) for shape in shapes]))  # (K,1,s,s)
        self.shapes = list(shapes)
        self.layout = [dict(piece) for piece in layout]

    @classmethod
    def from_config(cls, artifact, generator) -> "Stickers":
        layout = [{"centre": list(p.centre), "side": p.side, "shape": p.shape} for p in artifact.pieces]
        return cls(artifact.size, [p.shape for p in artifact.pieces], artifact.init, generator, layout)

    def forward(self) -> torch.Tensor:
        """(K,3,s,s): every piece."""
        return torch.sigmoid(self.logits)

    def appearance(self, params):
        """Instance i shows piece i mod K: the placement lays out each target's K pieces in order."""
        index = torch.arange(len(params), device=self.mask.device) % len(self.shapes)
        return self()[index], self.mask[index]

    def random_like(self, generator) -> "Stickers":
        """Uniform-random pixels in the same pieces."""
        squares = ["square"] * len(self.shapes)  # the masks are copied: a PNG shape need not exist any more
        noise = Stickers(self.logits.shape[-1], squares, "random", generator, self.layout).to(self.mask.device)
        noise.shapes = self.shapes
        noise.mask.copy_(self.mask)
        return noise

    def sidecar(self) -> dict:
        return {"pieces": [{"file": run_dir.STICKER_PNG.format(k), **piece} for k, piece in enumerate(self.layout)]}

    def pieces_rgba(self) -> list[np.ndarray]:
        rgba = torch.cat([self().detach(), self.mask], 1).clamp(0, 1).cpu()
        return [(piece.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8) for piece in rgba]

    def rgba_uint8(self) -> np.ndarray:
        """The pieces side by side, a gap between them: a contact sheet to look at, not to print."""
        pieces = self.pieces_rgba()
        gap = np.zeros((pieces[0].shape[0], max(2, pieces[0].shape[1] // 8), 4), np.uint8)
        return np.concatenate([part for piece in pieces for part in (piece, gap)][:-1], 1)

    def save_files(self, tensors_path, png_path) -> None:
        tensors = {"logits": self.logits.detach().cpu().contiguous(), "mask": self.mask.cpu().contiguous()}
        meta = {"kind": self.kind, "shapes": json.dumps(self.shapes), "layout": json.dumps(self.layout)}
        for k, piece in enumerate(self.pieces_rgba()):
            path = png_path.parent / run_dir.STICKER_PNG.format(k)
            atomic_save(path, lambda tmp, piece=piece: Image.fromarray(piece, "RGBA").save(tmp, "PNG"))
        atomic_save(tensors_path, lambda tmp: save_file(tensors, tmp, meta))
        atomic_save(png_path, lambda tmp: Image.fromarray(self.rgba_uint8(), "RGBA").save(tmp, "PNG"))

    @classmethod
    def load_tensors(cls, path) -> "Stickers":
        tensors, meta = read_tensors(path, cls.kind, ("logits", "mask", "shapes", "layout"))
        shapes = json.loads(meta["shapes"])  # masks come from the file: a PNG shape need not exist any more
        stickers = cls(tensors["logits"].shape[-1], ["square"] * len(shapes), layout=json.loads(meta["layout"]))
        stickers.shapes = shapes
        stickers.logits.data.copy_(tensors["logits"])
        stickers.mask.copy_(tensors["mask"])
        return stickers
