"""Which detector candidates belong to a box: the one IoU of the engine, and the per-box maximum over them.
Candidates are chosen on detached boxes, so the gradient flows only through their confidences. And the box a
detector goal judges on a photo: its wearer, or what is over the artifact (wearer_verdict)."""

import numpy as np
import torch

from patchgen.goals.photo import Instances, PhotoEvidence, Verdict, verdict
from patchgen.goals.thresholds import FOUND_CONF, FOUND_IOU
from patchgen.victims.detector import QUERY_CONF, xywh_to_xyxy

TARGET_MIN_IOU = 0.3  # a candidate this close to a box can become its detection (or a near miss)
AP_CONF = QUERY_CONF  # evaluation: the lowest confidence AP still ranks, all a detector's answer to a query holds
NOBODY = "no wearer even with the artifact painted out: nobody for the attack to act on"


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(B,N,M) IoU of xyxy boxes a (B,N,4) with b (B,M,4)."""
    a, b = a.unsqueeze(2), b.unsqueeze(1)
    wh = (torch.minimum(a[..., 2:], b[..., 2:]) - torch.maximum(a[..., :2], b[..., :2])).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / (area_a + area_b - inter).clamp(min=1e-6)


def near_boxes(out, boxes: torch.Tensor, mask: torch.Tensor, min_iou: float = TARGET_MIN_IOU) -> torch.Tensor:
    """(B,N,T) bool: candidate n overlaps box t (IoU >= min_iou) and slot t holds a box."""
    near = box_iou(xywh_to_xyxy(out.boxes_xywh).detach(), boxes) >= min_iou
    return near & mask.unsqueeze(1)


def centred_inside(out, boxes: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B,N,T) bool: candidate n's centre lies inside box t (a phantom drawn on the artifact, at any size)."""
    centre = out.boxes_xywh[..., None, :2].detach()  # (B,N,1,2)
    inside = (centre >= boxes[:, None, :, :2]) & (centre <= boxes[:, None, :, 2:])
    return inside.all(-1) & mask.unsqueeze(1)


def best_over(confidence: torch.Tensor, near: torch.Tensor) -> torch.Tensor:
    """(B,T): per box, the highest of the (B,N) confidences among its near candidates (0 where none)."""
    return (confidence.unsqueeze(-1) * near).amax(1)


def mean_over_boxes(per_box: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B,): the mean over each image's boxes (0 for an image without any)."""
    return (per_box * mask).sum(1) / mask.sum(1).clamp(min=1)


def class_confidence(out, class_index: torch.Tensor) -> torch.Tensor:
    """(B,N): each candidate's highest confidence among the given classes."""
    return out.confidence().index_select(-1, class_index).amax(-1)


def found_class(detections: list, boxes: torch.Tensor, mask: torch.Tensor, conf: float = FOUND_CONF) -> torch.Tensor:
    """(K,) long over the K valid target boxes: the class of the most confident detection (>= conf) that
    matches the box (IoU >= FOUND_IOU), or -1 where none does. detections: per image (n,6) tensors."""
    found = []
    for dets, image_boxes, image_mask in zip(detections, boxes, mask):
        targets = image_boxes[image_mask]
        dets = dets[dets[:, 4] >= conf]
        if not len(dets):
            found.append(torch.full((len(targets),), -1, dtype=torch.long, device=boxes.device))
            continue
        matched = box_iou(targets[None], dets[None, :, :4].to(targets))[0] >= FOUND_IOU  # (T,n)
        score = torch.where(matched, dets[None, :, 4].to(targets), torch.full_like(matched, -1, dtype=targets.dtype))
        best = score.argmax(1)
        found.append(torch.where(matched.any(1), dets[best, 5].long().to(boxes.device), -1))
    return torch.cat(found) if found else torch.zeros(0, dtype=torch.long)


def of_classes(detections: list, class_index: torch.Tensor) -> list:
    """Per image, only the detections whose class is one of class_index."""
    return [d[torch.isin(d[:, 5].long(), class_index.to(d.device))] for d in detections]


def photo_detections(prediction) -> torch.Tensor:
    """A photo's (n,6) detections as the tensor `succeeded` reads."""
    return torch.as_tensor(np.asarray(prediction, dtype=np.float32).reshape(-1, 6))


def most_confident(dets: torch.Tensor, class_index: torch.Tensor, point=None, conf: float = 0.0):
    """(4,) box of the most confident detection of class_index (>= conf) that contains `point` (anywhere where
    None), or None."""
    dets = dets[torch.isin(dets[:, 5].long(), class_index.cpu()) & (dets[:, 4] >= conf)]
    if point is not None:
        x, y = (float(v) for v in point)
        dets = dets[(dets[:, 0] <= x) & (x <= dets[:, 2]) & (dets[:, 1] <= y) & (y <= dets[:, 3])]
    return None if not len(dets) else dets[dets[:, 4].argmax(), :4].numpy().astype(np.float64)


def best_matching_score(dets: torch.Tensor, class_index: torch.Tensor, box) -> float:
    """The highest score among detections of class_index matching `box` (IoU >= FOUND_IOU); 0 if none or no box."""
    dets = dets[torch.isin(dets[:, 5].long(), class_index.cpu())]
    if box is None or not len(dets):
        return 0.0
    near = box_iou(dets[None, :, :4], torch.as_tensor(box, dtype=torch.float32).reshape(1, 1, 4))[0, :, 0]
    return float(dets[near >= FOUND_IOU, 4].max()) if bool((near >= FOUND_IOU).any()) else 0.0


def wearer_verdict(goal, photo: PhotoEvidence, judged: torch.Tensor, when_nobody: bool, unfound: str) -> Verdict:
    """A goal acting on a target (vanish, mislabel) on a photo: its `succeeded` on one box, the first of
     - the wearer's box where the caller gives it, else the counterfactual's (artifact painted out): its most
       confident detection of a target class containing the artifact's centre, what the victim sees there when the
       artifact does nothing (none: `absent`, nobody for the attack to act on);
     - else the most confident detection of a `judged` class containing the artifact's centre ("artifact"), or
       anywhere in the photo where the artifact was not found ("whole-photo"), its score at any confidence.
    `when_nobody`: the outcome where there is no box at all (vanish: nobody seen, it worked); `unfound`: why the
    wanted outcome in a photo without the artifact found is not credited to it."""
    dets = photo_detections(photo.prediction)
    centre, absent = photo.artifact_centre, False
    box, rule, source = photo.wearer_box, "wearer-box", "given"
    if box is None and photo.counterfactual is not None and centre is not None:
        box = most_confident(photo_detections(photo.counterfactual), goal.target_index, centre, photo.conf)
        source, absent = "counterfactual", box is None
    if box is None:
        rule, source = "artifact" if centre is not None else "whole-photo", "none"
        box = most_confident(dets, judged, centre)
    worked = when_nobody if box is None else bool(goal.succeeded([dets], Instances.of([box]), None, photo.conf)[0])
    not_credited = unfound if rule == "whole-photo" else NOBODY if absent else None
    names = "/".join(goal.victim.names[int(i)] for i in judged)
    return verdict(worked, best_matching_score(dets, judged, box), rule, photo, not_credited, scored=names,
                   wearer_box=box if rule == "wearer-box" else None, wearer_source=source)
