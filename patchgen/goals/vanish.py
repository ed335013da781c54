"""Detector goal `vanish`: the target classes are not found at all (Thys et al. 2019)."""

from patchgen.goals.base import Goal
from patchgen.goals.detector_match import (AP_CONF, best_over, class_confidence, found_class, mean_over_boxes,
                                           near_boxes, of_classes, wearer_verdict)
from patchgen.goals.thresholds import FOUND_CONF


class Vanish(Goal):
    def loss(self, out, scenes, placed):
        """loss.vanish_scope 'target': per target box, its most confident overlapping candidate, averaged (every
        target gets a gradient every step); 'image': the image's single most confident candidate anywhere."""
        confidence = class_confidence(out, self.target_index)  # (B,N)
        if self.config.loss.vanish_scope == "image":
            return self.measure(confidence.amax(1))
        per_target = best_over(confidence, near_boxes(out, scenes.boxes, scenes.mask))
        return mean_over_boxes(self.measure(per_target), scenes.mask)

    def measure(self, best):
        """Each maximum c plus loss.vanish_log x log(max(c, AP floor)) (see LossConfig)."""
        weight = self.config.loss.vanish_log
        return best + weight * best.clamp(min=AP_CONF).log() if weight else best

    def succeeded(self, detections, scenes, placed, conf=FOUND_CONF):
        """Per target box: no detection of a target class matches it."""
        return found_class(of_classes(detections, self.target_index), scenes.boxes, scenes.mask, conf) < 0

    def photo_verdict(self, photo):
        """The wearer is not found (detector_match.wearer_verdict); with nobody seen where the artifact was not
        found, there may have been no one to hide."""
        return wearer_verdict(self, photo, self.target_index, True,
                              "artifact not found and no target detected: nothing shows there was anyone to hide")
