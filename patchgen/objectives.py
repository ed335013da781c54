"""Adversarial goals and regularisers: one scalar per image; the trainer sums them with the config's weights."""

import torch

from patchgen.victims.detector import DetectorOutput


def vanish(out: DetectorOutput, class_ids) -> torch.Tensor:
    """(B,): the highest confidence any candidate gives any target class (objectness x class where the family
    has objectness). Pushing the maximum down hides every instance, not just the easiest one."""
    conf = out.confidence()[..., list(class_ids)]
    return conf.amax(dim=(1, 2))
