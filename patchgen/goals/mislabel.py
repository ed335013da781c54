"""Detector goal `mislabel`: each target is still found, but as goal_class (a person boxed as a 'dog')."""

import torch

from patchgen.goals.base import Goal
from patchgen.goals.detector_match import (best_over, class_confidence, found_class, mean_over_boxes, near_boxes,
                                           wearer_verdict)
from patchgen.goals.thresholds import FOUND_CONF, FOUND_IOU


class Mislabel(Goal):
    def loss(self, out, scenes, placed):
        """Per target box: its best target-class candidate's confidence minus its best goal-class one, averaged.
        NMS runs per class, so the box reads as goal_class only once the goal class is on top, not merely high.
        Every overlapping candidate's target class is pushed down; the goal class is raised only on candidates
        that already fit the box as evaluation counts it (IoU >= FOUND_IOU), not on a small box over the patch."""
        goal = torch.tensor([self.goal_id], device=self.target_index.device)
        target = best_over(class_confidence(out, self.target_index), near_boxes(out, scenes.boxes, scenes.mask))
        fitting = near_boxes(out, scenes.boxes, scenes.mask, FOUND_IOU)
        return mean_over_boxes(target - best_over(class_confidence(out, goal), fitting), scenes.mask)

    def succeeded(self, detections, scenes, placed, conf=FOUND_CONF):
        """Per target box: its most confident matching detection is of goal_class."""
        return found_class(detections, scenes.boxes, scenes.mask, conf) == self.goal_id

    def photo_verdict(self, photo):
        """The wearer is found as goal_class (detector_match.wearer_verdict); a goal-class object in a photo
        without the artifact found is no mislabel: what would have caused it is not in view."""
        goal = torch.tensor([self.goal_id])
        return wearer_verdict(self, photo, goal, False,
                              "artifact not found: a goal-class detection cannot be credited to the attack")
