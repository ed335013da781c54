"""Did the attack work on this photo? One definition, used alike for photos, video frames and the digital
reference, so that their verdicts can be compared.

The *wearer* is the person (or object) carrying the artifact. Its box comes, in order of preference, from
 - the caller (a labelled box, or the clean detector's box in a benchmark), or
 - the counterfactual photo (artifact painted over): the highest-scoring box that contains the artifact's
   centre — i.e. what the victim sees there when the artifact is not doing anything.
A detection is "over the wearer" when its IoU with the wearer box is >= 0.5 (the usual detection-match rule).
Without a wearer box, a detection is over the wearer when it contains the artifact's centre; without even an
artifact location, any detection of the class counts.

 - vanish:   worked when no target-class detection with score >= conf is over the wearer.
 - mislabel: worked when a goal-class detection with score >= conf is over the wearer (a target-class object).
 - appear:   worked when a goal-class detection with score >= conf contains the artifact's centre.

*Inconclusive* (worked = None; counted apart, never as success, and left out of every rate): the outcome the
attack wants, in a photo that cannot credit it to the attack. That is
 - the whole-photo rule (neither a wearer box nor the artifact located) and the wanted outcome: for vanish no
   target detected (a plain wall hides nobody: there may be no one to hide), for mislabel and appear a
   goal-class object detected (a real car is no mislabel: the artifact that would have caused it is not in view);
 - `wearer_absent` (the counterfactual, artifact painted over, shows nobody over it) and the wanted outcome for
   vanish or mislabel: there was no one for the attack to act on;
 - `doubt` (what was found may be another object: a look-alike of the artifact's outline, or two places alike;
   capture/appearance.py), whatever the outcome: judged on the wrong object, a failure would be as false as a
   success.
Otherwise the unwanted outcome stays a failure under every rule (a person seen in a photo where the artifact was not
found: whatever else the photo holds, nothing hid them), so a rate can only err towards the attack failing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MATCH_IOU = 0.5


def box_iou(boxes: np.ndarray, box) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    box = np.asarray(box, dtype=np.float64)
    x1 = np.maximum(boxes[:, 0], box[0])
    y1 = np.maximum(boxes[:, 1], box[1])
    x2 = np.minimum(boxes[:, 2], box[2])
    y2 = np.minimum(boxes[:, 3], box[3])
    inter = (x2 - x1).clip(0) * (y2 - y1).clip(0)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + (box[2] - box[0]) * (box[3] - box[1]) - inter
    return inter / np.maximum(union, 1e-9)


def contains(boxes: np.ndarray, point) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x, y = point
    return (boxes[:, 0] <= x) & (x <= boxes[:, 2]) & (boxes[:, 1] <= y) & (y <= boxes[:, 3])


@dataclass
class Verdict:
    worked: bool | None  # None: inconclusive (see the module docstring); `reason` says why
    target_score: float  # best target-class score over the wearer (or the artifact) — 0 if none
    rule: str  # which wearer rule applied: "wearer-box", "artifact-centre" or "whole-photo"
    reason: str | None = None

    @property
    def outcome(self) -> str:
        return "inconclusive" if self.worked is None else "worked" if self.worked else "failed"

    def to_dict(self) -> dict:
        return {"outcome": self.outcome, "worked": self.worked, "target_score": round(float(self.target_score), 4),
                "rule": self.rule, "reason": self.reason}


def worked_rate(verdicts) -> tuple[float | None, int]:
    """(share of conclusive verdicts that worked, None when none is conclusive; how many were inconclusive).
    `verdicts`: Verdict objects or their to_dict() (reports keep the dicts)."""
    worked = [v.worked if isinstance(v, Verdict) else v["worked"] for v in verdicts if v is not None]
    conclusive = [w for w in worked if w is not None]
    rate = round(float(np.mean(conclusive)), 4) if conclusive else None
    return rate, len(worked) - len(conclusive)


def of_classes(detections: np.ndarray, class_ids) -> np.ndarray:
    """The rows of (n,6) detections whose class is `class_ids` (an int or several)."""
    dets = np.asarray(detections, dtype=np.float64).reshape(-1, 6)
    return dets[np.isin(dets[:, 5].astype(int), np.atleast_1d(np.asarray(class_ids, dtype=int)))]


def wearer_from_counterfactual(detections: np.ndarray, artifact_centre, class_ids) -> np.ndarray | None:
    """The box the victim gives the wearer once the artifact is painted over (None if it sees none there);
    `class_ids`: the wearer's classes (the run's target classes: mislabel's wearer is one too, seen as itself)."""
    dets = of_classes(detections, class_ids)
    dets = dets[contains(dets[:, :4], artifact_centre)]
    if len(dets) == 0:
        return None
    return dets[np.argmax(dets[:, 4]), :4].copy()


def judge(detections: np.ndarray, goal: str, class_ids, conf: float = 0.25,
          wearer_box=None, artifact_centre=None, wearer_absent: bool = False, doubt: bool = False) -> Verdict:
    """Apply the rules above to (n,6) detections x1,y1,x2,y2,score,cls; `goal`: one of the detector goals
    (patchgen.registry); `class_ids`: the class(es) it is judged by (RunArtifact.judged_classes);
    `wearer_absent`: the counterfactual was scored and showed no wearer over the artifact; `doubt`: what was found
    may not be the artifact (then neither its centre nor a wearer from it is given)."""
    dets = of_classes(detections, class_ids)
    if goal == "appear" and artifact_centre is not None:
        over, rule = contains(dets[:, :4], artifact_centre), "artifact-centre"
    elif wearer_box is not None:
        over, rule = box_iou(dets[:, :4], wearer_box) >= MATCH_IOU, "wearer-box"
    elif artifact_centre is not None:
        over, rule = contains(dets[:, :4], artifact_centre), "artifact-centre"
    else:
        over, rule = np.ones(len(dets), dtype=bool), "whole-photo"
    score = float(dets[over, 4].max()) if over.any() else 0.0
    present = score >= conf
    worked = (not present) if goal == "vanish" else present
    reason = None
    if doubt:
        reason = "what was found may not be the artifact (see the notes): not judged"
    elif worked and rule == "whole-photo":
        reason = ("artifact not found and no target detected: nothing shows there was anyone to hide"
                  if goal == "vanish" else
                  "artifact not found: a target detection cannot be credited to the attack")
    elif worked and wearer_absent and goal != "appear":
        reason = "no wearer even with the artifact painted over: nobody for the attack to act on"
    return Verdict(worked=None if reason else worked, target_score=score, rule=rule, reason=reason)
