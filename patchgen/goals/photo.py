"""A goal on one photo (or video frame) of the printed artifact: the evidence capture gathers, the verdict each goal
gives through its `photo_verdict` (judged with its own `succeeded`, so a photo and evaluation agree), and the
rule that keeps a rate honest.

*Inconclusive* (worked = None; counted apart, never as success, and left out of every rate): the outcome the
attack wants, in a photo that cannot credit it to the attack (each goal says when: the artifact not found, nobody
for it to act on, the victim giving that outcome with the artifact painted out), and any photo where what was
found may be another object (`doubt`: a look-alike of the artifact's outline, or two places alike), whatever the
outcome. The unwanted outcome stays a failure, so a rate can only err towards the attack failing."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from patchgen.goals.thresholds import FOUND_CONF

DOUBT = "what was found may not be the artifact (see the notes): not judged"


@dataclass
class PhotoEvidence:
    """What the victim gave on one photo, and where the artifact was in it."""

    prediction: np.ndarray  # detectors: (n,6) x1,y1,x2,y2,score,class in photo px; classifiers: (C,) probabilities
    counterfactual: np.ndarray | None  # the same with the artifact painted out; None: not found, or not scored
    size: tuple  # (w, h) of the photo
    artifact_corners: np.ndarray | None = None  # (4,2) the located artifact's corners; None: not found
    wearer_box: np.ndarray | None = None  # the wearer's box, where the caller knows it (a label, a benchmark)
    label: int | None = None  # the photo's true class, where the user gives it (classifier photos)
    conf: float = FOUND_CONF  # the confidence a detection needs to count
    doubt: bool = False  # what was found may be another object: not judged

    @property
    def located(self) -> bool:
        return self.artifact_corners is not None

    @property
    def artifact_centre(self) -> np.ndarray | None:
        return None if self.artifact_corners is None else self.artifact_corners.mean(axis=0)

    @property
    def artifact_box(self) -> np.ndarray | None:
        """(4,) xyxy around the artifact; the whole photo where it was not found."""
        if self.artifact_corners is None:
            return np.array([0.0, 0.0, *self.size])
        return np.concatenate([self.artifact_corners.min(0), self.artifact_corners.max(0)])

    def of_counterfactual(self) -> "PhotoEvidence":
        """The counterfactual photo judged as a photo of its own (the artifact painted out, nothing in doubt)."""
        return replace(self, prediction=self.counterfactual, doubt=False)


@dataclass
class Instances:
    """The instances of one photo that a goal's `succeeded` judges, shaped as training's Scenes (boxes, mask,
    labels) and Placed (footprint, valid) present them: one image, T boxes (a wearer, the artifact), or a label."""

    boxes: torch.Tensor  # (1,T,4) xyxy
    labels: torch.Tensor | None = None  # (1,) the true class (classifier goals)

    @classmethod
    def of(cls, boxes=(), label: int | None = None) -> "Instances":
        boxes = torch.as_tensor(np.asarray(boxes, dtype=np.float32).reshape(1, -1, 4))
        return cls(boxes, None if label is None else torch.tensor([int(label)]))

    @property
    def mask(self) -> torch.Tensor:
        return torch.ones(self.boxes.shape[:2], dtype=torch.bool)

    valid = mask

    def footprint(self) -> torch.Tensor:
        return self.boxes


@dataclass
class Verdict:
    worked: bool | None  # None: inconclusive (see the module docstring); `reason` says why
    target_score: float  # the score the goal reads (`scored` says of what): 0 where nothing was there to read
    rule: str  # what the goal judged: "wearer-box", "artifact", "whole-photo", "given-label", "counterfactual-label"
    reason: str | None = None
    scored: str = ""  # what target_score is the score of, in words ("person", "toaster", "true class tabby")
    wearer_box: np.ndarray | None = None  # detector goals acting on a wearer: the box judged
    wearer_source: str = "none"  # "given", "counterfactual" or "none"
    top1: str | None = None  # classifier goals: the photo's top-1 class and its probability
    top1_score: float | None = None

    @property
    def outcome(self) -> str:
        return "inconclusive" if self.worked is None else "worked" if self.worked else "failed"

    def to_dict(self) -> dict:
        out = {"outcome": self.outcome, "worked": self.worked, "target_score": round(float(self.target_score), 4),
               "scored": self.scored, "rule": self.rule, "reason": self.reason}
        if self.top1 is not None:
            out |= {"top1": self.top1, "top1_score": round(float(self.top1_score), 4)}
        return out


def verdict(worked: bool, target_score: float, rule: str, photo: PhotoEvidence, not_credited: str | None,
            **fields) -> Verdict:
    """The Verdict, inconclusive where the photo is in doubt or, having the outcome the attack wants, cannot credit
    it to the attack (`not_credited` says why; None where it can)."""
    reason = DOUBT if photo.doubt else not_credited if worked else None
    return Verdict(worked=None if reason else bool(worked), target_score=float(target_score), rule=rule,
                   reason=reason, **fields)


def worked_rate(verdicts) -> tuple[float | None, int]:
    """(share of conclusive verdicts that worked, None when none is conclusive; how many were inconclusive).
    `verdicts`: Verdict objects or their to_dict() (reports keep the dicts); None entries are skipped."""
    worked = [v.worked if isinstance(v, Verdict) else v["worked"] for v in verdicts if v is not None]
    conclusive = [w for w in worked if w is not None]
    rate = round(float(np.mean(conclusive)), 4) if conclusive else None
    return rate, len(worked) - len(conclusive)
