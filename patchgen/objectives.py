"""Adversarial goals and regularisers: one scalar per image; the trainer sums them with the config's weights."""

import torch

from patchgen.victims.detector import DetectorOutput, xywh_to_xyxy

TARGET_MIN_IOU = 0.3  # a candidate this close to a target box can become its detection (or a near miss)


def vanish(out: DetectorOutput, class_index: torch.Tensor) -> torch.Tensor:
    """(B,): the highest confidence any candidate gives any target class (objectness x class where the family
    has objectness). Pushing the maximum down hides every instance, not just the easiest one.
    class_index: the target class ids as a tensor on the victim's device (made once, not per step)."""
    class_index = torch.as_tensor(class_index, device=out.class_scores.device)
    return out.confidence().index_select(-1, class_index).amax(dim=(1, 2))


def vanish_each_target(out: DetectorOutput, class_index: torch.Tensor, boxes: torch.Tensor,
                       mask: torch.Tensor) -> torch.Tensor:
    """(B,): per target box, the highest target-class confidence among candidates overlapping it
    (IoU >= TARGET_MIN_IOU), averaged over the image's targets. Unlike the image-wide maximum, every person in
    the image gets a gradient at every step, not only the one the detector is surest of.
    boxes: (B,T,4) xyxy input pixels; mask: (B,T) bool, which slots hold a target."""
    class_index = torch.as_tensor(class_index, device=out.class_scores.device)
    confidence = out.confidence().index_select(-1, class_index).amax(-1)  # (B,N)
    # (B,N,T): the boxes only choose candidates; the gradient goes through their confidence
    near = box_iou(xywh_to_xyxy(out.boxes_xywh).detach(), boxes) >= TARGET_MIN_IOU
    near &= mask.unsqueeze(1)
    per_target = (confidence.unsqueeze(-1) * near).amax(1)  # (B,T)
    return (per_target * mask).sum(1) / mask.sum(1).clamp(min=1)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(B,N,M) IoU of xyxy boxes a (B,N,4) with b (B,M,4)."""
    a, b = a.unsqueeze(2), b.unsqueeze(1)
    wh = (torch.minimum(a[..., 2:], b[..., 2:]) - torch.maximum(a[..., :2], b[..., :2])).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / (area_a + area_b - inter).clamp(min=1e-6)
