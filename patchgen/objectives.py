"""Adversarial goals and regularisers: one scalar per image; the trainer sums them with the config's weights."""

import torch

from patchgen.victims.detector import DetectorOutput


def vanish(out: DetectorOutput, class_index: torch.Tensor) -> torch.Tensor:
    """(B,): the highest confidence any candidate gives any target class (objectness x class where the family
    has objectness). Pushing the maximum down hides every instance, not just the easiest one.
    class_index: the target class ids as a tensor on the victim's device (made once, not per step)."""
    class_index = torch.as_tensor(class_index, device=out.class_scores.device)
    return out.confidence().index_select(-1, class_index).amax(dim=(1, 2))
