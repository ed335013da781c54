"""What every artifact kind gives the engine. An artifact is an `nn.Module`:

- `forward()` -> the printable image(s) in [0,1], what the loss terms (tv, nps, style) judge: a patch's image, a
  texture's tile, a sticker set's pieces (K,3,s,s);
- `appearance(params)` -> (image, mask), what EOT pastes: the same for every instance ((3,S,S), (1,S,S)) or one
  per instance ((n,3,S,S), (n,1,S,S): a texture's crops, a sticker set's pieces);
- `appearances(values, params)`, the same for many candidate values at once (a search scoring its candidates);
- `mask`, a buffer whose last side is the artifact px the placement maps (patchgen.placements);
- `at_step(fraction)`, told how far training is before each step (a camouflage anneals its temperature);
- `random_like(generator)`, the same kind and shape with random content: evaluation's NOISE control;
- `bounds`, the range a gradient-free optimiser draws parameter values from (sigmoid logits: 0.018 .. 0.982), and
  `propose(values, share, bounds, generator)`, a random search's change of one parameter tensor, in place;
- `sidecar()`, what the run's patch.json records of it beyond the config; `rgba_uint8()`, patch.png's pixels;
  `save_files(tensors, png)` and `load_tensors(path)`.

In eval mode (`.eval()`) an artifact shows what will be printed (a camouflage: its hard palette choice)."""

import numpy as np
import torch


class Artifact(torch.nn.Module):
    kind = ""
    tiled = False  # read through random crops of its tiling: EOT draws a crop place per instance
    bounds = (-4.0, 4.0)

    def appearance(self, params):
        return self(), self.mask

    @torch.no_grad()
    def appearances(self, values: list[torch.Tensor], params) -> tuple[torch.Tensor, torch.Tensor]:
        """What P candidates look like for the n instances of params: ((P*n,3,S,S), (P*n,1,S,S)), candidate-major.
        values: one (P, *shape) tensor per parameter, in parameters() order. Here one candidate at a time, the
        artifact's own values put back after; a kind whose look batches cheaply makes them all at once (pixels)."""
        kept = [p.detach().clone() for p in self.parameters()]
        images, masks = [], []
        n = len(params)
        for candidate in zip(*values):
            for p, value in zip(self.parameters(), candidate):
                p.copy_(value)
            image, mask = self.appearance(params)
            images.append(image.expand(n, *image.shape[-3:]))
            masks.append(mask.expand(n, *mask.shape[-3:]))
        for p, value in zip(self.parameters(), kept):
            p.copy_(value)
        return torch.cat(images), torch.cat(masks)

    def propose(self, values: torch.Tensor, share: float, bounds: tuple, generator: torch.Generator) -> None:
        """Square Attack's change (Andriushchenko et al. 2020): a square covering `share` of one image's area (one
        piece's, for several) set to a corner of the colour cube; a parameter without an image layout has `share`
        of its values redrawn in the bounds."""
        low, high = bounds
        if values.dim() < 2:
            picked = torch.rand(values.shape, generator=generator) < share
            fresh = low + (high - low) * torch.rand(values.shape, generator=generator)
            values.copy_(torch.where(picked.to(values.device), fresh.to(values.device), values))
            return
        image = values.reshape(-1, *values.shape[-3:]) if values.dim() >= 3 else values[None, None]
        n, c, h, w = image.shape
        side = max(1, min(h, w, round((share * h * w) ** 0.5)))
        piece = int(torch.randint(n, (1,), generator=generator))
        y, x = (int(torch.randint(extent - side + 1, (1,), generator=generator)) for extent in (h, w))
        corner = torch.where(torch.rand(c, generator=generator) < 0.5, low, high).to(values.device)
        image[piece, :, y:y + side, x:x + side] = corner[:, None, None]

    def at_step(self, fraction: float) -> None:
        """Nothing changes with training progress unless a kind says so."""

    def sidecar(self) -> dict:
        return {}

    def rgba_uint8(self) -> np.ndarray:
        rgba = torch.cat([self().detach(), self.mask], 0).clamp(0, 1).cpu()
        return (rgba.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
