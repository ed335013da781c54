"""Detector goal `mislabel`: each target is still found, but as goal_class (a person boxed as a 'dog')."""

import torch

from patchgen.goals.base import Goal
from patchgen.goals.detector_match import best_over, class_confidence, found_class, mean_over_boxes, near_boxes


class Mislabel(Goal):
    def loss(self, out, scenes, placed):
        """Per target box: its best target-class candidate's confidence minus its best goal-class one, averaged.
        NMS runs per class, so the box reads as goal_class only once the goal class is on top, not merely high."""
        near = near_boxes(out, scenes.boxes, scenes.mask)
        goal = torch.tensor([self.goal_id], device=self.target_index.device)
        target = best_over(class_confidence(out, self.target_index), near)
        return mean_over_boxes(target - best_over(class_confidence(out, goal), near), scenes.mask)

    def succeeded(self, detections, scenes, placed):
        """Per target box: its most confident matching detection is of goal_class."""
        return found_class(detections, scenes.boxes, scenes.mask) == self.goal_id
