"""Drawing on photos and frames: detections, the artifact's outline and markers, the verdict, the FPS.

Images stay RGB; colours below are RGB too."""

from __future__ import annotations

import cv2
import numpy as np

TARGET = (230, 40, 40)  # the class under attack
OTHER = (90, 160, 255)
OUTLINE = (40, 220, 90)  # the artifact and its markers
WORKED, FAILED = (40, 200, 80), (220, 50, 50)


def _text(image, text, origin, colour, scale):
    """Text on a dark box (readable on any background; an outline stroke does not line up in OpenCV 5,
    whose glyphs widen with thickness)."""
    thickness = max(1, int(round(scale * 2)))
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    x, y = origin
    x0, y0 = max(x - 2, 0), max(y - h - 3, 0)
    x1, y1 = min(x + w + 2, image.shape[1]), min(y + base + 2, image.shape[0])
    if x1 > x0 and y1 > y0:
        image[y0:y1, x0:x1] = (image[y0:y1, x0:x1] * 0.35).astype(image.dtype)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thickness, cv2.LINE_AA)


def draw_detections(image, detections, names, target_class_ids, conf, wearer_box=None):
    scale = max(0.4, image.shape[1] / 1600)
    targets = set() if target_class_ids is None else {int(c) for c in np.atleast_1d(target_class_ids)}
    if wearer_box is not None:
        x1, y1, x2, y2 = (int(round(v)) for v in wearer_box)
        cv2.rectangle(image, (x1, y1), (x2, y2), (255, 255, 255), 1, cv2.LINE_AA)
    for x1, y1, x2, y2, score, cls in np.asarray(detections).reshape(-1, 6):
        if score < conf:
            continue
        colour = TARGET if int(cls) in targets else OTHER
        p1, p2 = (int(round(x1)), int(round(y1))), (int(round(x2)), int(round(y2)))
        cv2.rectangle(image, p1, p2, colour, max(1, int(round(2 * scale))), cv2.LINE_AA)
        label = f"{names[int(cls)] if names else int(cls)} {score:.2f}"
        _text(image, label, (p1[0] + 2, max(p1[1] - 4, 12)), colour, 0.5 * scale)


def draw_location(image, location):
    if location is None:
        return
    thickness = max(1, image.shape[1] // 640)
    quad = np.round(location.corners_px).astype(np.int32).reshape(-1, 1, 2)
    cv2.polylines(image, [quad], True, OUTLINE, thickness + 1, cv2.LINE_AA)
    for corners in location.markers.values():
        cv2.polylines(image, [np.round(corners).astype(np.int32).reshape(-1, 1, 2)], True, OUTLINE, thickness,
                      cv2.LINE_AA)


def draw_banner(image, lines, ok: bool | None):
    scale = max(0.45, image.shape[1] / 1800)
    colour = (255, 255, 255) if ok is None else (WORKED if ok else FAILED)
    step = int(32 * scale) + 6
    for i, line in enumerate(lines):
        _text(image, line, (10, 10 + step * (i + 1)), colour if i == 0 else (255, 255, 255), scale)


def verdict_line(verdict) -> str:
    """The banner's first line: drawn in white (neither colour) when inconclusive, which never reads as success."""
    return {"worked": "attack worked", "failed": "attack failed", "inconclusive": "inconclusive"}[verdict.outcome]


def annotate(rgb, frame_score, names, target_class_ids, conf, title=None, counterfactual=False) -> np.ndarray:
    """A copy of the photo (or of its counterfactual) with everything that was found drawn on it."""
    if counterfactual:
        base = frame_score.counterfactual_image
        dets, verdict = frame_score.counterfactual_detections, frame_score.counterfactual_verdict
    else:
        base, dets, verdict = rgb, frame_score.detections, frame_score.verdict
    image = np.ascontiguousarray(base).copy()
    draw_location(image, frame_score.location)
    draw_detections(image, dets, names, target_class_ids, conf, frame_score.wearer_box)
    where = frame_score.location.method if frame_score.location else "artifact not found"
    head = ("counterfactual: " if counterfactual else "") + verdict_line(verdict)
    lines = [head, f"target score {verdict.target_score:.2f} | {where}"]
    if title:
        lines.append(title)
    draw_banner(image, lines, verdict.worked)
    return image
