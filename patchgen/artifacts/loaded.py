"""An artifact as the Python API hands it out (patchgen.load): the trained module with the config it was trained
under, which says where it sits (its placement) and under which EOT ranges. `apply` pastes it on a batch of
images through the engine's own placement and renderer, as evaluation does (or, with eot=True, as a training
step does); it lives here, not on the module, because where an artifact goes is the run's, not the artifact's."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from patchgen import eot as eot_ranges, registry
from patchgen.config import RunConfig, placement_kind
from patchgen.errors import UserError
from patchgen.in_memory import check_images, scenes_with_boxes


@dataclass
class LoadedArtifact:
    module: torch.nn.Module  # the artifact kind's nn.Module (patchgen/artifacts): forward() is what is printed
    config: RunConfig | None  # the run's config; None for an image with no sidecar (nothing says where it goes)
    source: Path  # the run folder or image it came from

    @property
    def kind(self) -> str:
        return self.module.kind

    @property
    def image(self) -> np.ndarray:
        """(S,S,4) uint8 RGBA, as patch.png holds it (alpha: the shape)."""
        return self.module.rgba_uint8()

    def apply(self, images: torch.Tensor, boxes=None, generator: torch.Generator | None = None,
              eot: bool = False) -> torch.Tensor:
        """The images (N,3,H,W) in [0,1] with the artifact pasted where the run's placement puts it: on each
        target box for a detector run (boxes: per image an (n,4) x1,y1,x2,y2 tensor in pixels), at a random
        place and rotation for `anywhere` (a classifier's patch). eot=False: as evaluation pastes it (no
        photometric change); eot=True: one draw of the run's EOT ranges, as a training step sees it. The same
        generator state gives the same images; generator None draws from torch's global generator."""
        config = self._config()
        images = check_images(images)
        kind = placement_kind(config)
        on_boxes = registry.PLUGINS["placement"][kind].on_boxes
        if on_boxes and boxes is None:
            raise UserError(f"this artifact goes on target boxes (placement {kind}): pass boxes=[...], per image "
                            f"an (n,4) tensor of x1,y1,x2,y2 in pixels")
        if boxes is not None and not on_boxes:
            raise UserError(f"this artifact's placement ({kind}) chooses its own place in each image: leave boxes "
                            f"out")
        device = images.device
        if generator is None:
            generator = torch.Generator(device).manual_seed(int(torch.randint(2**62, ())))
        elif generator.device != device:
            raise UserError(f"pass a generator on the images' device ({device}), not on {generator.device}")
        from patchgen.placements import placement_for

        module = self.module.to(device).eval()  # eval: what is printed (a camouflage's hard palette choice)
        per_image = _boxes_per_image(boxes, len(images)) if boxes is not None else [()] * len(images)
        scenes = scenes_with_boxes(images, per_image, [""] * len(images))
        placement = placement_for(config, module)
        count = len(images) * placement.slots(scenes)
        side = module.mask.shape[-1]
        colour_model = None
        if eot:
            from patchgen.training import load_colour_model_for

            params = eot_ranges.sample(count, generator, config.eot, side, module.tiled)
            colour_model = load_colour_model_for(config, device)
        else:
            params = placement.evaluation_params(count, generator, module.tiled)
        placed = placement.place(scenes, params)
        with torch.no_grad():
            return eot_ranges.render(*module.appearance(params), images, placed, params, colour_model)

    def _config(self) -> RunConfig:
        if self.config is None:
            raise UserError(f"{self.source} has no sidecar (a .json beside it, as a run writes patch.json) to say "
                            f"where it goes: load a run folder, or a PNG with its sidecar")
        return self.config


def _boxes_per_image(boxes, count: int) -> list:
    """boxes as apply takes them: one (n,4) x1,y1,x2,y2 entry per image (a list, or an (N,n,4) tensor)."""
    entries = list(boxes)
    shapes = [tuple(torch.as_tensor(b).shape) for b in entries]
    if len(entries) != count or any(s != (0,) and (len(s) != 2 or s[1] != 4) for s in shapes):
        raise UserError(f"pass boxes as one (n,4) x1,y1,x2,y2 tensor (pixels) per image, {count} in all; got "
                        f"{len(entries)} entries of shapes {sorted(set(shapes))}")
    return entries
