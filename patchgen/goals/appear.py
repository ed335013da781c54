"""Detector goal `appear`: the artifact itself is detected as goal_class, a phantom object where none is."""

import torch

from patchgen.goals.base import Goal
from patchgen.goals.detector_match import best_over, class_confidence, centred_inside, mean_over_boxes, photo_detections
from patchgen.goals.photo import Instances, verdict
from patchgen.goals.thresholds import FOUND_CONF


class Appear(Goal):
    def loss(self, out, scenes, placed):
        """Per placed artifact: minus the best goal-class confidence among candidates centred on it."""
        boxes, valid = placed.footprint(), placed.valid
        goal = torch.tensor([self.goal_id], device=boxes.device)
        best = best_over(class_confidence(out, goal), centred_inside(out, boxes, valid))
        return -mean_over_boxes(best, valid)

    def succeeded(self, detections, scenes, placed, conf=FOUND_CONF):
        """Per placed artifact: a goal-class detection (confidence >= conf) is centred on it."""
        boxes, valid = placed.footprint(), placed.valid
        hits = []
        for dets, image_boxes, image_valid in zip(detections, boxes, valid):
            dets = dets[(dets[:, 5].long() == self.goal_id) & (dets[:, 4] >= conf)]
            centre = ((dets[:, :2] + dets[:, 2:4]) / 2).to(image_boxes)[:, None, :]  # (n,1,2)
            inside = ((centre >= image_boxes[None, :, :2]) & (centre <= image_boxes[None, :, 2:])).all(-1)  # (n,T)
            hits.append(inside.any(0)[image_valid])
        return torch.cat(hits)

    def photo_verdict(self, photo):
        """`succeeded` on the artifact's box in the photo ("artifact"); where it was not found, on the whole photo
        ("whole-photo"), where a goal-class object is no phantom of the attack's: not credited."""
        dets, box = photo_detections(photo.prediction), photo.artifact_box
        worked = bool(self.succeeded([dets], None, Instances.of([box]), photo.conf)[0])
        x, y = ((dets[:, 0] + dets[:, 2]) / 2).numpy(), ((dets[:, 1] + dets[:, 3]) / 2).numpy()
        over = (dets[:, 5].long() == self.goal_id).numpy() & (box[0] <= x) & (x <= box[2]) & (box[1] <= y) & \
            (y <= box[3])
        rule = "artifact" if photo.located else "whole-photo"
        return verdict(worked, float(dets[over, 4].max()) if over.any() else 0.0, rule, photo,
                       None if photo.located else "artifact not found: a goal-class detection cannot be credited "
                                                  "to the attack", scored=self.victim.names[self.goal_id])
