"""Classifier goal `untargeted`: the image's true class is no longer the top-1 (Brown et al. 2017), judged on the
images the victim classified right without the artifact (Goal.judged)."""

import math

import torch
import torch.nn.functional as F

from patchgen.goals.base import Goal
from patchgen.goals.photo import Instances, Verdict, verdict

# an image whose true class is down to this probability is fooled with room to spare: it stops pulling, and the
# images still classified right get the whole gradient
FLOOR = math.log(1e-3)


class Untargeted(Goal):
    def loss(self, logits, scenes, placed):
        """The true class's log-probability, floored at FLOOR. Its gradient lowers the true class and raises every
        other class by its probability, so one patch pushes all images the same way (towards the classes it
        already makes likely); a per-image margin against each image's own runner-up pulled them apart and
        stalled the CIFAR ResNet20 short of the drop this reaches (BENCHMARKS.md)."""
        true = F.log_softmax(logits.float(), 1).gather(1, scenes.labels[:, None]).squeeze(1)
        return true.clamp(min=FLOOR)

    def succeeded(self, logits, scenes, placed):
        return logits.argmax(1) != scenes.labels

    def photo_verdict(self, photo):
        """`succeeded` on the photo's probabilities: its top-1 is not the true class, the one the user gives
        ("given-label") or else the counterfactual's top-1 (artifact painted out: "counterfactual-label"). Not
        credited where the artifact was not found, nor where the counterfactual misses a given true class already
        (Goal.judged); without either, there is no true class to judge by."""
        probs, before = photo.prediction, photo.counterfactual
        top = int(probs.argmax())
        seen = dict(top1=self.victim.names[top], top1_score=float(probs[top]))
        true = photo.label if photo.label is not None else None if before is None else int(before.argmax())
        if true is None:
            return Verdict(None, 0.0, "whole-photo", "artifact not found and no true class given: give --label CLASS",
                           scored="true class unknown", **seen)
        instance = Instances.of(label=true)
        worked = bool(self.succeeded(torch.as_tensor(probs)[None], instance, None)[0])
        not_credited = None
        if before is None:
            not_credited = "artifact not found: a wrong top-1 cannot be credited to it"
        elif before is not None and not bool(self.judged(torch.as_tensor(before)[None], instance, None)[0]):
            not_credited = "the true class is missed even with the artifact painted out: not the artifact's doing"
        return verdict(worked, probs[true], "given-label" if photo.label is not None else "counterfactual-label",
                       photo, not_credited, scored=f"true class {self.victim.names[true]}", **seen)
