"""Which detector candidates belong to a box: the one IoU of the engine, and the per-box maximum over them.
Candidates are chosen on detached boxes, so the gradient flows only through their confidences."""

import torch

from patchgen.victims.detector import QUERY_CONF, xywh_to_xyxy

TARGET_MIN_IOU = 0.3  # a candidate this close to a box can become its detection (or a near miss)
FOUND_IOU = 0.5  # evaluation: a detection this close to a target box is that target's (as AP@0.5 counts it)
FOUND_CONF = 0.25  # evaluation: the confidence a detection needs to count
AP_CONF = QUERY_CONF  # evaluation: the lowest confidence AP still ranks, all a detector's answer to a query holds


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


def found_class(detections: list, boxes: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(K,) long over the K valid target boxes: the class of the most confident detection (>= FOUND_CONF) that
    matches the box (IoU >= FOUND_IOU), or -1 where none does. detections: per image (n,6) tensors."""
    found = []
    for dets, image_boxes, image_mask in zip(detections, boxes, mask):
        targets = image_boxes[image_mask]
        dets = dets[dets[:, 4] >= FOUND_CONF]
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
