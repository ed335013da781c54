"""What every artifact kind gives the engine. An artifact is an `nn.Module`:

- `forward()` -> the printable image(s) in [0,1], what the loss terms (tv, nps, style) judge: a patch's image, a
  texture's tile, a sticker set's pieces (K,3,s,s);
- `appearance(params)` -> (image, mask), what EOT pastes: the same for every instance ((3,S,S), (1,S,S)) or one
  per instance ((n,3,S,S), (n,1,S,S): a texture's crops, a sticker set's pieces);
- `mask`, a buffer whose last side is the artifact px the placement maps (patchgen.placements);
- `at_step(fraction)`, told how far training is before each step (a camouflage anneals its temperature);
- `random_like(generator)`, the same kind and shape with random content: evaluation's NOISE control;
- `sidecar()`, what the run's patch.json records of it beyond the config; `rgba_uint8()`, patch.png's pixels;
  `save_files(tensors, png)` and `load_tensors(path)`.

In eval mode (`.eval()`) an artifact shows what will be printed (a camouflage: its hard palette choice)."""

import numpy as np
import torch


class Artifact(torch.nn.Module):
    kind = ""
    tiled = False  # read through random crops of its tiling: EOT draws a crop place per instance

    def appearance(self, params):
        return self(), self.mask

    def at_step(self, fraction: float) -> None:
        """Nothing changes with training progress unless a kind says so."""

    def sidecar(self) -> dict:
        return {}

    def rgba_uint8(self) -> np.ndarray:
        rgba = torch.cat([self().detach(), self.mask], 0).clamp(0, 1).cpu()
        return (rgba.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
