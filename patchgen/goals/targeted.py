"""Classifier goal `targeted`: every image is classified as goal_class (Brown et al. 2017's toaster), judged on the
images the victim did not already call goal_class without the artifact (Goal.judged); images labelled goal_class
are left out when the data loads (families/classifier.py)."""

import torch.nn.functional as F

from patchgen.goals.base import Goal


class Targeted(Goal):
    def loss(self, logits, scenes, placed):
        """Cross-entropy towards goal_class: minus its log-probability."""
        return -F.log_softmax(logits.float(), 1)[:, self.goal_id]

    def succeeded(self, logits, scenes, placed):
        return logits.argmax(1) == self.goal_id
