"""Detector goal `appear`: the artifact itself is detected as goal_class, a phantom object where none is."""

import torch

from patchgen.goals.base import Goal
from patchgen.goals.detector_match import FOUND_CONF, best_over, class_confidence, centred_inside, mean_over_boxes


class Appear(Goal):
    def loss(self, out, scenes, placed):
        """Per placed artifact: minus the best goal-class confidence among candidates centred on it."""
        boxes, valid = placed.footprint(), placed.valid
        goal = torch.tensor([self.goal_id], device=boxes.device)
        best = best_over(class_confidence(out, goal), centred_inside(out, boxes, valid))
        return -mean_over_boxes(best, valid)

    def succeeded(self, detections, scenes, placed):
        """Per placed artifact: a goal-class detection (confidence >= FOUND_CONF) is centred on it."""
        boxes, valid = placed.footprint(), placed.valid
        hits = []
        for dets, image_boxes, image_valid in zip(detections, boxes, valid):
            dets = dets[(dets[:, 5].long() == self.goal_id) & (dets[:, 4] >= FOUND_CONF)]
            centre = ((dets[:, :2] + dets[:, 2:4]) / 2).to(image_boxes)[:, None, :]  # (n,1,2)
            inside = ((centre >= image_boxes[None, :, :2]) & (centre <= image_boxes[None, :, 2:])).all(-1)  # (n,T)
            hits.append(inside.any(0)[image_valid])
        return torch.cat(hits)
