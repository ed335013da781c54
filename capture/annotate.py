"""Drawing on photos and frames: detections, the artifact's outline and markers, the verdict, the FPS, with
Ultralytics' Annotator (line width and font scale from the image's size). A photo is drawn at the size it is
viewed (annotate's `max_side`: the report's, the annotated video's), so its labels stay readable there.

Images stay RGB; colours below are RGB too."""

from __future__ import annotations

import cv2
import numpy as np

from capture.media import shrink

TARGET = (230, 40, 40)  # the class under attack
OTHER = (90, 160, 255)
WEARER = (255, 255, 255)
OUTLINE = (40, 220, 90)  # the artifact and its markers
WORKED, FAILED = (40, 200, 80), (220, 50, 50)
BANNER = (20, 20, 20)  # behind the banner's text: readable on any background


def annotator(image):
    """Ultralytics' Annotator drawing into `image` (contiguous, writeable) with OpenCV: line width about 0.3 % of
    the image's mean side, font scale a third of it."""
    from ultralytics.utils.plotting import Annotator

    return Annotator(image)


def draw_detections(image, detections, names, target_class_ids, conf, wearer_box=None):
    draw = annotator(image)
    targets = set() if target_class_ids is None else {int(c) for c in np.atleast_1d(target_class_ids)}
    if wearer_box is not None:
        draw.box_label(np.asarray(wearer_box, dtype=np.float64), "", WEARER)
    for x1, y1, x2, y2, score, cls in np.asarray(detections).reshape(-1, 6):
        if score < conf:
            continue
        label = f"{names[int(cls)] if names else int(cls)} {score:.2f}"
        draw.box_label([x1, y1, x2, y2], label, TARGET if int(cls) in targets else OTHER)


def draw_location(image, location, scale: float = 1.0):
    if location is None:
        return
    draw = annotator(image)
    for _, where in location.placed(None):  # a sticker set: each piece found
        cv2.polylines(image, [np.round(where.corners_px * scale).astype(np.int32).reshape(-1, 1, 2)], True,
                      OUTLINE, draw.lw + 1, cv2.LINE_AA)
    for corners in location.markers.values():
        cv2.polylines(image, [np.round(corners * scale).astype(np.int32).reshape(-1, 1, 2)], True, OUTLINE,
                      draw.lw, cv2.LINE_AA)


def draw_banner(image, lines, ok: bool | None):
    """Lines of text at the top left, the first in the verdict's colour (white when there is none)."""
    draw = annotator(image)
    colour = (255, 255, 255) if ok is None else (WORKED if ok else FAILED)
    height = cv2.getTextSize("Ag", 0, fontScale=draw.sf, thickness=draw.tf)[0][1] + 3
    for i, line in enumerate(lines):
        draw.text((draw.lw * 2, draw.lw + (height + draw.lw) * (i + 1)), line,
                  colour if i == 0 else (255, 255, 255), box_color=BANNER)


def verdict_line(verdict) -> str:
    """The banner's first line: drawn in white (neither colour) when inconclusive, which never reads as success."""
    return {"worked": "attack worked", "failed": "attack failed", "inconclusive": "inconclusive"}[verdict.outcome]


def score_line(verdict) -> str:
    """What the verdict read: the top-1 class (classifiers) and the score the goal judges by."""
    top = f"top-1 {verdict.top1} {verdict.top1_score:.2f} | " if verdict.top1 is not None else ""
    return f"{top}{verdict.scored or 'target'} {verdict.target_score:.2f}"


def annotate(rgb, frame_score, names, target_class_ids, conf, title=None, counterfactual=False,
             max_side: int | None = None) -> np.ndarray:
    """A copy of the photo (or of its counterfactual), shrunk to `max_side` (None: as it is), with everything
    that was found drawn on it."""
    if counterfactual:
        base = frame_score.counterfactual_image
        prediction, verdict = frame_score.counterfactual_prediction, frame_score.counterfactual_verdict
    else:
        base, prediction, verdict = rgb, frame_score.prediction, frame_score.verdict
    image = np.ascontiguousarray(shrink(base, max_side) if max_side else base).copy()
    scale = image.shape[1] / base.shape[1]
    draw_location(image, frame_score.location, scale)
    if frame_score.family == "detector":
        dets = np.array(prediction, dtype=np.float64).reshape(-1, 6)
        dets[:, :4] *= scale
        wearer = None if frame_score.wearer_box is None else np.asarray(frame_score.wearer_box) * scale
        draw_detections(image, dets, names, target_class_ids, conf, wearer)
    where = frame_score.location.describe() if frame_score.location else "artifact not found"
    lines = [("counterfactual: " if counterfactual else "") + verdict_line(verdict),
             f"{score_line(verdict)} | {where}"]
    if title:
        lines.append(title)
    draw_banner(image, lines, verdict.worked)
    return image
