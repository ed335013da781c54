"""Classifier goal `untargeted`: the image's true class is no longer the top-1 (Brown et al. 2017)."""

from patchgen.goals.base import Goal

MARGIN = 5.0  # logits: past this the image is misclassified with room to spare; stop pushing it, push the others


class Untargeted(Goal):
    def loss(self, logits, scenes, placed):
        """The true class's logit above the best other class's, clamped at -MARGIN (Carlini-Wagner style)."""
        true = logits.gather(1, scenes.labels[:, None]).squeeze(1)
        others = logits.scatter(1, scenes.labels[:, None], float("-inf")).amax(1)
        return (true - others).clamp(min=-MARGIN)

    def succeeded(self, logits, scenes, placed):
        return logits.argmax(1) != scenes.labels
