"""Score one photo or frame: locate the artifact, rectify it, measure its colours, run the victim on the whole
photo and on its counterfactual (artifact painted over), and judge with the run's goal whether the attack worked
(its photo_verdict: patchgen/goals/photo.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from capture.colour_fidelity import colour_fidelity
from capture.counterfactual import counterfactual
from capture.appearance import Appearance
from capture.locate import locate_artifact, other_prints_ids, other_prints_note
from capture.location import Location
from capture.prediction import predict_photo, prediction_record
from capture.rectify import rectify
from capture.sticker_set import locate_set, set_colour
from patchgen.errors import UserError
from patchgen.goals.photo import PhotoEvidence, Verdict
from patchgen.goals.thresholds import FOUND_CONF
from printing.markers import detect_markers

# Below this, the rectified region is not the run's artifact (synthetic prints of the right one score > 0.8).
MIN_STRUCTURE_CORRELATION = 0.4


@dataclass
class FrameScore:
    family: str  # the victim's: what `prediction` holds (capture/prediction.py)
    prediction: np.ndarray  # detectors: (n,6) x1,y1,x2,y2,score,cls in photo px; classifiers: (C,) probabilities
    verdict: Verdict
    location: Location | None = None  # None also where what was found is in doubt (then `doubtful`)
    colour: dict | None = None
    counterfactual_prediction: np.ndarray | None = None
    counterfactual_verdict: Verdict | None = None
    counterfactual_image: np.ndarray | None = None  # not serialised
    notes: list = field(default_factory=list)
    doubtful: Location | None = None  # a place that may be another object (Location.doubt): neither used nor judged

    @property
    def wearer_box(self) -> np.ndarray | None:
        return self.verdict.wearer_box

    def to_dict(self, names=None) -> dict:
        cf = self.counterfactual_verdict
        return {
            "verdict": self.verdict.to_dict(),
            "counterfactual_verdict": cf.to_dict() if cf else None,
            # What the artifact itself changed: the target score with it minus without it.
            "score_change": round(self.verdict.target_score - cf.target_score, 4) if cf else None,
            "located": self.location is not None,
            # Which of the run's prints the markers said this is (None: found by features alone, or not found).
            "export": self.location.export.name if self.location and self.location.export else None,
            "location": self.location.to_dict() if self.location else None,
            "doubtful_location": self.doubtful.to_dict() if self.doubtful else None,
            "colour": self.colour,
            "wearer_box": [round(float(v), 1) for v in self.wearer_box] if self.wearer_box is not None else None,
            "wearer_source": self.verdict.wearer_source,
            **prediction_record(self.family, self.prediction, self.counterfactual_prediction, names),
            "notes": list(self.notes),
        }


class Scorer:
    """Everything fixed across the photos of one artifact: the artifact, its appearance, the victim. `patchgen
    score`, its videos and `patchgen live` all go through one: one locator, one verdict."""

    def __init__(self, artifact, victim, conf: float = FOUND_CONF, imgsz: int | None = None, fill: str = "grey",
                 seed: int = 0, use_features: bool = True, feature_max_side: int | None = None,
                 label: str | None = None):
        """`label`: the photos' true class (a classifier's untargeted goal judges by it; default: the
        counterfactual's top-1)."""
        self.artifact, self.victim = artifact, victim
        self.conf, self.imgsz, self.fill = float(conf), imgsz, fill
        self.rng = np.random.default_rng(seed)
        self.goal = artifact.make_goal(victim)
        self.label = None if label is None else self._label_id(label)
        self.class_ids = tuple(victim.class_id(name) for name in artifact.judged_classes)  # drawn as targets
        self.use_features, self.feature_max_side = use_features, feature_max_side
        self._appearance = self._piece_appearances = None

    def _label_id(self, label) -> int:
        if self.victim.family != "classifier":
            raise UserError(f"--label {label}: a true class is for a classifier's photos; {self.victim.name} is a "
                            f"{self.victim.family}, judged by its boxes: leave --label out")
        try:
            return self.victim.class_id(label)
        except UserError as err:
            raise UserError(f"--label {label}: {err}") from None

    @property
    def appearance(self) -> Appearance:
        if self._appearance is None:
            self._appearance = Appearance(self.artifact)
        return self._appearance

    @property
    def piece_appearances(self) -> list:
        """A sticker set's: each piece's."""
        if self._piece_appearances is None:
            self._piece_appearances = [Appearance(piece) for piece in self.artifact.pieces]
        return self._piece_appearances

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        return predict_photo(self.victim, rgb, self.imgsz)

    def locate(self, rgb: np.ndarray, hint: Location | None = None) -> Location | None:
        """`hint`: where the artifact was in the previous frame (video, live), tried first."""
        if self.artifact.pieces:
            return locate_set(rgb, self.artifact, self.piece_appearances if self.use_features else None,
                              use_features=self.use_features, feature_max_side=self.feature_max_side, hint=hint)
        return locate_artifact(rgb, self.artifact, appearance=self.appearance if self.use_features else None,
                               use_features=self.use_features, feature_max_side=self.feature_max_side, hint=hint)

    def score(self, rgb: np.ndarray, wearer_box=None, with_counterfactual: bool = True,
              with_colour: bool = True, location: Location | None | str = "find") -> FrameScore:
        """`location="find"` locates the artifact; pass a Location (or None) to skip that step."""
        finding = isinstance(location, str)
        location = self.locate(rgb) if finding else location
        prediction = self.predict(rgb)
        notes, colour, doubtful = [], None, None
        if location is not None and location.doubt:
            # Never judged on what may be the wrong object: nothing of it is used, and the verdict is inconclusive.
            notes.append(location.doubt)
            doubtful, location = location, None
        if location is None and doubtful is None:
            notes.append("artifact not found: scored without rectification, colour check or counterfactual")
        # Markers of a print other than those chosen: left out by the locator, said here (where it found nothing,
        # looked for again only for a photo located here: a video or live frame is not slowed for a note).
        found = location or doubtful
        other = found.other_markers if found is not None else \
            other_prints_ids(detect_markers(rgb), self.artifact) if finding and self.artifact.exports else ()
        notes += filter(None, [other_prints_note(other, self.artifact, location is not None)])
        if self.artifact.pieces:  # a sticker set: how many of its pieces were found, and any left out in doubt
            notes += [location.count if location is not None else f"0 of {len(self.artifact.pieces)} stickers found",
                      *(location.doubts if location is not None else [])]
        if location is not None and with_colour:
            colour = set_colour(rgb, location) if self.artifact.pieces else \
                colour_fidelity(rectify(rgb, location, self.artifact), self.artifact.rgb, self.artifact.mask)
            match = colour["structure_correlation"]
            if match is not None and match < MIN_STRUCTURE_CORRELATION:
                notes.append(f"what was found does not look like this artifact (correlation {match:.2f}): "
                             f"a different print, or the wrong --run or --artifact?")

        cf_image = cf_prediction = cf_verdict = None
        if location is not None and with_counterfactual:
            cf_image = counterfactual(rgb, location, self.artifact, self.fill, self.rng)
            cf_prediction = self.predict(cf_image)
        photo = PhotoEvidence(prediction, cf_prediction, (rgb.shape[1], rgb.shape[0]),
                              None if location is None else location.corners_px,
                              None if wearer_box is None else np.asarray(wearer_box, dtype=np.float64),
                              self.label, self.conf, doubt=doubtful is not None)
        verdict = self.goal.photo_verdict(photo)
        if cf_prediction is not None:
            cf_verdict = self.goal.photo_verdict(photo.of_counterfactual())
        return FrameScore(family=self.victim.family, prediction=prediction, verdict=verdict, location=location,
                          colour=colour, counterfactual_prediction=cf_prediction, counterfactual_verdict=cf_verdict,
                          counterfactual_image=cf_image, notes=notes, doubtful=doubtful)
