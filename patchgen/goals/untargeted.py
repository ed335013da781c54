"""Classifier goal `untargeted`: the image's true class is no longer the top-1 (Brown et al. 2017), judged on the
images the victim classified right without the artifact (Goal.judged)."""

import math

import torch.nn.functional as F

from patchgen.goals.base import Goal

# an image whose true class is down to this probability is fooled with room to spare: it stops pulling, and the
# images still classified right get the whole gradient
FLOOR = math.log(1e-3)


class Untargeted(Goal):
    def loss(self, logits, scenes, placed):
        """The true class's log-probability, floored at FLOOR. Its gradient lowers the true class and raises every
        other class by its probability, so one patch pushes all images the same way (towards the classes it
        already makes likely); a per-image margin against each image's own runner-up pulled them apart and left
        the CIFAR ResNet20 at a 55-point drop where this reaches more (BENCHMARKS.md)."""
        true = F.log_softmax(logits.float(), 1).gather(1, scenes.labels[:, None]).squeeze(1)
        return true.clamp(min=FLOOR)

    def succeeded(self, logits, scenes, placed):
        return logits.argmax(1) != scenes.labels
