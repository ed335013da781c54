"""Artifact kind `pixels`: k single pixels, each a place and a colour (Su et al. 2019's one-pixel attack), over the
whole input (placement whole_image). Its parameters are k rows of x, y, r, g, b in [0,1], the form differential
evolution searches (optimizer differential_evolution): a pixel's place has no gradient, so only query optimisers
move it. Saved as patch.png (the pixels on a transparent canvas) + safetensors."""

import torch
from PIL import Image
from safetensors.torch import save_file

from patchgen.artifacts.base import Artifact
from patchgen.atomic import atomic_save
from patchgen.tensor_file import read_tensors


class Pixels(Artifact):
    kind = "pixels"
    bounds = (0.0, 1.0)

    def __init__(self, size: int, count: int = 1, init: str = "grey", generator=None):
        super().__init__()
        values = torch.full((count, 5), 0.5)
        if init == "random":
            values = torch.rand(count, 5, generator=generator, device=generator.device if generator else None).cpu()
        self.values = torch.nn.Parameter(values)
        self.register_buffer("mask", torch.ones(1, size, size))  # the canvas: its side is what the placement maps

    @classmethod
    def from_config(cls, artifact, generator) -> "Pixels":
        return cls(artifact.size, artifact.pixels, artifact.init, generator)

    @property
    def size(self) -> int:
        return self.mask.shape[-1]

    def canvas(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(3,S,S) colours and (1,S,S) mask: each pixel at its place (x, y scaled to the canvas), later ones on
        top where two share a place."""
        image, mask = canvases(self.values[None], self.size)
        return image[0], mask[0]

    def forward(self) -> torch.Tensor:
        return self.canvas()[0]

    def appearance(self, params):
        return self.canvas()

    @torch.no_grad()
    def appearances(self, values, params):
        """All candidates' canvases in one scatter: a few-pixel search scores hundreds of them a step."""
        image, mask = canvases(values[0], self.size)
        n = len(params)
        return image.repeat_interleave(n, 0), mask.repeat_interleave(n, 0)

    def rgba_uint8(self):
        image, mask = self.canvas()
        rgba = torch.cat([image.detach(), mask], 0).clamp(0, 1).cpu()
        return (rgba.permute(1, 2, 0).numpy() * 255 + 0.5).astype("uint8")

    def sidecar(self) -> dict:
        rows = self.values.detach().clamp(0, 1).cpu()
        return {"pixels": [{"x": int(r[0] * self.size), "y": int(r[1] * self.size),
                            "rgb": [round(float(c) * 255) for c in r[2:]]} for r in rows]}

    def propose(self, values, share, bounds, generator) -> None:
        """Sparse-RS (Croce et al. 2022): `share` of the k pixels (at least one) moved to fresh random places, each
        with a random corner of the colour cube."""
        k = len(values)
        rows = torch.randperm(k, generator=generator)[:max(1, round(share * k))]
        values[rows, :2] = torch.rand(len(rows), 2, generator=generator).to(values)
        values[rows, 2:] = (torch.rand(len(rows), 3, generator=generator) < 0.5).to(values)

    def random_like(self, generator) -> "Pixels":
        noise = Pixels(self.size, len(self.values)).to(self.mask.device)
        noise.values.data.copy_(torch.rand(noise.values.shape, generator=generator, device=generator.device))
        return noise

    def save_files(self, tensors_path, png_path) -> None:
        tensors = {"values": self.values.detach().cpu().contiguous()}
        metadata = {"kind": self.kind, "size": str(self.size)}
        atomic_save(tensors_path, lambda tmp: save_file(tensors, tmp, metadata))
        atomic_save(png_path, lambda tmp: Image.fromarray(self.rgba_uint8(), "RGBA").save(tmp, "PNG"))

    @classmethod
    def load_tensors(cls, path) -> "Pixels":
        tensors, metadata = read_tensors(path, "pixels", ("values",))
        pixels = cls(int(metadata.get("size", "32")), len(tensors["values"]))
        pixels.values.data.copy_(tensors["values"])
        return pixels


def canvases(values: torch.Tensor, s: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(P,3,S,S) colours and (P,1,S,S) masks of P sets of k pixel rows (P,k,5)."""
    values = values.clamp(0, 1)
    count = len(values)
    # 8-bit colours, as an image file holds them (gradients pass straight through the rounding): a search's
    # repeated candidates are then the same image, answered from the query cache
    colours = values[..., 2:] + ((values[..., 2:] * 255).round() / 255 - values[..., 2:]).detach()
    place = (values[..., :2].detach() * s).long().clamp(0, s - 1)
    flat = (torch.arange(count, device=values.device)[:, None] * s * s + place[..., 1] * s + place[..., 0]).reshape(-1)
    image = torch.zeros(count * s * s, 3, device=values.device, dtype=values.dtype)
    image = image.index_put((flat,), colours.reshape(-1, 3))
    mask = torch.zeros(count * s * s, 1, device=values.device, dtype=values.dtype)
    mask[flat] = 1
    return image.view(count, s * s, 3).transpose(1, 2).reshape(count, 3, s, s), mask.view(count, 1, s, s)
