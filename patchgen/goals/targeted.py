"""Classifier goal `targeted`: every image is classified as goal_class (Brown et al. 2017's toaster), judged on the
images the victim did not already call goal_class without the artifact (Goal.judged); images labelled goal_class
are left out when the data loads (families/classifier.py)."""

import torch
import torch.nn.functional as F

from patchgen.goals.base import Goal
from patchgen.goals.photo import verdict


class Targeted(Goal):
    def loss(self, logits, scenes, placed):
        """Cross-entropy towards goal_class: minus its log-probability; with loss.targeted_margin m > 0, the margin
        of the best other class over it instead, floored at -m (Carlini and Wagner 2017; Square Attack's loss): an
        image already won by m stops counting, so a search judging changes by the mean keeps those that win images
        near the boundary rather than those that soothe the hardest ones."""
        log_p = F.log_softmax(logits.float(), 1)
        margin = self.config.loss.targeted_margin
        if not margin:
            return -log_p[:, self.goal_id]
        others = log_p.clone()
        others[:, self.goal_id] = float("-inf")
        return (others.amax(1) - log_p[:, self.goal_id]).clamp(min=-margin)

    def succeeded(self, logits, scenes, placed):
        return logits.argmax(1) == self.goal_id

    def photo_verdict(self, photo):
        """`succeeded` on the photo's probabilities: its top-1 is goal_class. Not credited where the artifact was
        not found, nor where the counterfactual (artifact painted out) is goal_class already (Goal.judged)."""
        probs = photo.prediction
        worked = bool(self.succeeded(torch.as_tensor(probs)[None], None, None)[0])
        if photo.counterfactual is None:
            rule, not_credited = "whole-photo", "artifact not found: a goal-class top-1 cannot be credited to it"
        else:
            judged = bool(self.judged(torch.as_tensor(photo.counterfactual)[None], None, None)[0])
            rule = "counterfactual-label"
            not_credited = None if judged else "goal class even with the artifact painted out: not its doing"
        top = int(probs.argmax())
        return verdict(worked, probs[self.goal_id], rule, photo, not_credited, scored=self.victim.names[self.goal_id],
                       top1=self.victim.names[top], top1_score=float(probs[top]))
