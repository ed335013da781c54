"""A run's preview of what training saw: the artifact under sampled EOT (pose, lighting, cloth warp, crops) on a
few training scenes, as one grid image (RUN/renders.png). People judge an artifact by how it looks on a person."""

import numpy as np
import torch
from PIL import Image

from patchgen import eot
from patchgen.atomic import atomic_save

COLUMNS = 3


@torch.no_grad()
def save_renders(setup, path, count: int = 6) -> None:
    """count scenes (the first ones) with the artifact rendered under EOT drawn from a generator of their own:
    the run's generator is left as the last checkpoint holds it."""
    config = setup.config
    generator = torch.Generator(setup.device).manual_seed(config.train.seed + 1)
    index = torch.arange(min(count, len(setup.scenes)), device=setup.device)
    scenes = setup.scenes.batch(index)
    params = eot.sample(len(index) * setup.placement.slots(scenes), generator, config.eot,
                        setup.artifact.mask.shape[-1], setup.artifact.tiled)
    placed = setup.placement.place(scenes, params)
    image, mask = setup.artifact.appearance(params)
    rendered = eot.render(image, mask, scenes.images, placed, params, setup.colour_model)
    pixels = (rendered.clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)
    blank = np.zeros_like(pixels[0])
    cells = list(pixels) + [blank] * (-len(pixels) % COLUMNS)
    rows = [np.concatenate(cells[i:i + COLUMNS], 1) for i in range(0, len(cells), COLUMNS)]
    grid = np.concatenate(rows, 0)
    atomic_save(path, lambda tmp: Image.fromarray(grid).save(tmp, "PNG"))
