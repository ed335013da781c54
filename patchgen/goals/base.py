"""What every goal has: the victim it reads and the config it was chosen by; the class it aims for, if any."""

import torch

from patchgen.victims.protocol import device_of


class Goal:
    """loss(out, scenes, placed) -> (B,) per image, differentiable; succeeded(prediction, scenes, placed) ->
    (K,) bool per instance (a target box, an image), and judged(...) which of them a success rate counts. `out` is
    the victim's raw output (DetectorOutput or logits); `prediction` what evaluation reads (per-image detections,
    or logits). photo_verdict(PhotoEvidence) -> Verdict judges one photo of the printed artifact with succeeded
    (patchgen/goals/photo.py), so that capture and evaluation share one definition of success."""

    def __init__(self, victim, config):
        self.victim = victim
        self.config = config
        device = device_of(victim)
        self.goal_id = victim.class_id(config.goal_class) if config.goal_class else None
        self.target_index = torch.tensor([victim.class_id(c) for c in config.target_classes], device=device) \
            if victim.family == "detector" else None

    def loss(self, out, scenes, placed) -> torch.Tensor:
        raise NotImplementedError

    def succeeded(self, prediction, scenes, placed) -> torch.Tensor:
        raise NotImplementedError

    def photo_verdict(self, photo):
        raise NotImplementedError

    def judged(self, clean_prediction, scenes, placed) -> torch.Tensor:
        """(K,) bool: the instances a success rate is taken over, those where the goal had not already succeeded
        without the artifact (untargeted: images the victim classified right; targeted: images it did not already
        call the goal class). A success the victim gives on its own is not the artifact's."""
        return ~self.succeeded(clean_prediction, scenes, placed)
