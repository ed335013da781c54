"""AP@IoU and recall for one class, over a set of images (all-point interpolation, as PASCAL VOC 2010+)."""

import numpy as np
import torch

from patchgen.goals.detector_match import box_iou
from patchgen.goals.thresholds import FOUND_CONF, FOUND_IOU


def match(detections: list[np.ndarray], references: list[np.ndarray], iou: float = FOUND_IOU):
    """Greedy matching, highest score first. Returns (scores, is_true_positive, number of references)."""
    scores, hits = [], []
    for dets, refs in zip(detections, references):
        dets = dets[np.argsort(-dets[:, 4])] if len(dets) else dets
        used = np.zeros(len(refs), bool)
        overlaps = (box_iou(torch.as_tensor(dets[None, :, :4]), torch.as_tensor(refs[None, :, :4]))[0].numpy()
                    if len(dets) and len(refs) else np.zeros((len(dets), len(refs))))
        for d in range(len(dets)):
            candidates = np.where(~used & (overlaps[d] >= iou))[0] if len(refs) else []
            hit = len(candidates) > 0
            if hit:
                used[candidates[np.argmax(overlaps[d, candidates])]] = True
            scores.append(dets[d, 4])
            hits.append(hit)
    return np.asarray(scores), np.asarray(hits, bool), sum(len(r) for r in references)


def average_precision(detections, references, iou: float = FOUND_IOU) -> float:
    """detections: per image (n,5+) x1,y1,x2,y2,score; references: per image (m,4+) boxes."""
    scores, hits, total = match(detections, references, iou)
    if total == 0:
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    tp = np.cumsum(hits[order])
    fp = np.cumsum(~hits[order])
    recall = tp / total
    precision = tp / np.maximum(tp + fp, 1)
    recall = np.concatenate([[0.0], recall, [1.0]])
    precision = np.concatenate([[1.0], precision, [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]  # the envelope: best precision at >= each recall
    steps = np.where(recall[1:] != recall[:-1])[0]
    return float(np.sum((recall[steps + 1] - recall[steps]) * precision[steps + 1]))


def recall_at(detections, references, conf: float = FOUND_CONF, iou: float = FOUND_IOU) -> float:
    kept = [d[d[:, 4] >= conf] for d in detections]
    _, hits, total = match(kept, references, iou)
    return float(hits.sum() / total) if total else float("nan")
