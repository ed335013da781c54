"""Artifact kind `camouflage`: a texture held to a palette of K colours taken from a reference photo (k-means in
CIELAB, printing.palette_from_photo), so it looks like the place it is worn in (AdvCam, Duan et al. 2020).

Each pixel is a soft choice among the palette's colours, softmax(scores / temperature); the temperature falls
geometrically over training from artifact.temperature[0] to [1], so the choice hardens, and in eval mode (what
is evaluated, saved and printed) it is the hard one: every pixel exactly a palette colour. The scores live on
artifact.cell-sized cells, upsampled with wrap-around: blobs, not pixel noise."""

import math

import torch
import torch.nn.functional as F

from patchgen.artifacts.texture import Texture
from patchgen.artifacts.tiling import wrapped_upsample
from patchgen.tensor_file import read_tensors


def palette_from_photo(path, colours: int) -> torch.Tensor:
    """(K,3) in [0,1]: K distinct colours that occur in the photo (printing.palette_from_photo)."""
    from printing.palette_from_photo import reference_palette

    return torch.tensor(reference_palette(path, colours), dtype=torch.float32)


class Camouflage(Texture):
    kind = "camouflage"

    def __init__(self, size: int, palette: torch.Tensor, crop: int = 0, cell: int = 8, init: str = "grey",
                 generator=None, temperature=(1.0, 0.05)):
        super().__init__(size, crop, cell)
        cells = size // cell
        if init == "grey":  # every colour equally likely: the mean colour, and every choice still open
            scores = torch.zeros(len(palette), cells, cells)
        else:
            scores = 2 * torch.randn(len(palette), cells, cells, generator=generator,
                                     device=generator.device if generator else None).cpu()
        self.logits = torch.nn.Parameter(scores)
        self.register_buffer("palette", palette.float().clone())
        self.temperatures = tuple(float(t) for t in temperature)
        self.temperature = self.temperatures[0]

    @classmethod
    def from_config(cls, artifact, generator) -> "Camouflage":
        palette = palette_from_photo(artifact.reference, artifact.colours)
        return cls(artifact.size, palette, artifact.crop, artifact.cell, artifact.init, generator,
                   artifact.temperature)

    def at_step(self, fraction: float) -> None:
        start, end = self.temperatures
        self.temperature = start * math.exp(fraction * math.log(end / start))

    def weights(self) -> torch.Tensor:
        """(K,T,T): how much of each palette colour each pixel takes; one-hot in eval mode."""
        scores = wrapped_upsample(self.logits, self.cell)
        if self.training:
            return F.softmax(scores / self.temperature, 0)
        return F.one_hot(scores.argmax(0), len(self.palette)).permute(2, 0, 1).to(scores.dtype)

    def forward(self) -> torch.Tensor:
        return torch.einsum("khw,kc->chw", self.weights(), self.palette)

    def random_like(self, generator) -> "Camouflage":
        """Random blobs of the same palette at the same cell size."""
        noise = Camouflage(self.tile_px, self.palette.cpu(), self.crop_px, self.cell, "random", generator)
        return noise.to(self.mask.device)

    def sidecar(self) -> dict:
        palette = (self.palette.cpu().numpy() * 255 + 0.5).astype(int).tolist()
        return {**super().sidecar(), "palette": palette, "temperature": list(self.temperatures)}

    def tensors(self) -> dict:
        return {"logits": self.logits.detach().cpu().contiguous(), "palette": self.palette.cpu().contiguous()}

    def rgba_uint8(self):
        was_training = self.training
        self.eval()  # patch.png is what gets printed: the hard choice
        try:
            return super().rgba_uint8()
        finally:
            self.train(was_training)

    @classmethod
    def load_tensors(cls, path) -> "Camouflage":
        tensors, meta = read_tensors(path, cls.kind, ("logits", "palette", "crop", "cell"))
        cell = int(meta["cell"])
        camouflage = cls(tensors["logits"].shape[-1] * cell, tensors["palette"], int(meta["crop"]), cell)
        camouflage.logits.data.copy_(tensors["logits"])
        return camouflage.eval()
