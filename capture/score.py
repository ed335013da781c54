"""Score one photo or frame: locate the artifact, rectify it, measure its colours, run the victim on the whole
photo and on its counterfactual (artifact painted over), and judge whether the attack worked."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from capture.colour_fidelity import colour_fidelity
from capture.counterfactual import counterfactual
from capture.appearance import Appearance
from capture.locate import locate_artifact, other_prints_ids, other_prints_note
from capture.location import Location
from capture.rectify import rectify
from capture.verdict import Verdict, judge, wearer_from_counterfactual
from printing.markers import detect_markers

# Detections are kept down to this score: the histogram and the timeline show how close a miss was.
SCORE_FLOOR = 0.05
# Below this, the rectified region is not the run's artifact (synthetic prints of the right one score > 0.8).
MIN_STRUCTURE_CORRELATION = 0.4


@dataclass
class FrameScore:
    detections: np.ndarray  # (n,6) x1,y1,x2,y2,score,cls in photo px, score >= SCORE_FLOOR
    verdict: Verdict
    location: Location | None = None  # None also where what was found is in doubt (then `doubtful`)
    colour: dict | None = None
    counterfactual_detections: np.ndarray | None = None
    counterfactual_verdict: Verdict | None = None
    counterfactual_image: np.ndarray | None = None  # not serialised
    wearer_box: np.ndarray | None = None
    wearer_source: str = "none"  # "given", "counterfactual" or "none"
    notes: list = field(default_factory=list)
    doubtful: Location | None = None  # a place that may be another object (Location.doubt): neither used nor judged

    def to_dict(self, names=None) -> dict:
        def rows(dets):
            if dets is None:
                return None
            return [{"box": [round(float(v), 1) for v in d[:4]], "score": round(float(d[4]), 4),
                     "class": names[int(d[5])] if names else int(d[5])} for d in dets]

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
            "wearer_source": self.wearer_source,
            "detections": rows(self.detections),
            "counterfactual_detections": rows(self.counterfactual_detections),
            "notes": list(self.notes),
        }


class Scorer:
    """Everything fixed across the photos of one artifact: the artifact, its appearance, the victim. `patchgen
    score`, its videos and `patchgen live` all go through one: one locator, one verdict."""

    def __init__(self, artifact, victim, conf: float = 0.25, imgsz: int | None = None, fill: str = "grey",
                 seed: int = 0, use_features: bool = True, feature_max_side: int | None = None):
        self.artifact, self.victim = artifact, victim
        self.conf, self.imgsz, self.fill = float(conf), imgsz, fill
        self.rng = np.random.default_rng(seed)
        self.class_ids = tuple(victim.class_id(name) for name in artifact.judged_classes)
        wearer = artifact.wearer_classes
        self.wearer_ids = None if wearer is None else tuple(victim.class_id(name) for name in wearer)
        self.use_features, self.feature_max_side = use_features, feature_max_side
        self._appearance = None

    @property
    def appearance(self) -> Appearance:
        if self._appearance is None:
            self._appearance = Appearance(self.artifact)
        return self._appearance

    def detect(self, rgb: np.ndarray) -> np.ndarray:
        return np.asarray(self.victim.detect_rgb(rgb, conf=SCORE_FLOOR, imgsz=self.imgsz)).reshape(-1, 6)

    def locate(self, rgb: np.ndarray, hint: Location | None = None) -> Location | None:
        """`hint`: where the artifact was in the previous frame (video, live), tried first."""
        return locate_artifact(rgb, self.artifact, appearance=self.appearance if self.use_features else None,
                               use_features=self.use_features, feature_max_side=self.feature_max_side, hint=hint)

    def score(self, rgb: np.ndarray, wearer_box=None, with_counterfactual: bool = True,
              with_colour: bool = True, location: Location | None | str = "find") -> FrameScore:
        """`location="find"` locates the artifact; pass a Location (or None) to skip that step."""
        finding = isinstance(location, str)
        location = self.locate(rgb) if finding else location
        detections = self.detect(rgb)
        notes, colour, doubtful = [], None, None
        if location is not None and location.doubt:
            # Never judged on what may be the wrong object: nothing of it is used, and the verdict is inconclusive.
            notes.append(location.doubt)
            doubtful, location = location, None
        centre = location.centre_px if location is not None else None
        if location is None and doubtful is None:
            notes.append("artifact not found: scored without rectification, colour check or counterfactual")
        # Markers of a print other than those chosen: left out by the locator, said here (where it found nothing,
        # looked for again only for a photo located here: a video or live frame is not slowed for a note).
        found = location or doubtful
        other = found.other_markers if found is not None else \
            other_prints_ids(detect_markers(rgb), self.artifact) if finding and self.artifact.exports else ()
        notes += filter(None, [other_prints_note(other, self.artifact, location is not None)])
        if location is not None and with_colour:
            colour = colour_fidelity(rectify(rgb, location, self.artifact), self.artifact.rgb, self.artifact.mask)
            match = colour["structure_correlation"]
            if match is not None and match < MIN_STRUCTURE_CORRELATION:
                notes.append(f"what was found does not look like this artifact (correlation {match:.2f}): "
                             f"a different print, or the wrong --run or --artifact?")

        cf_image = cf_dets = cf_verdict = None
        wearer_source = "given" if wearer_box is not None else "none"
        goal = self.artifact.goal
        # The counterfactual looked for the wearer and found none: nothing for the attack to act on.
        wearer_absent = False
        if location is not None and with_counterfactual:
            cf_image = counterfactual(rgb, location, self.artifact, self.fill, self.rng)
            cf_dets = self.detect(cf_image)
            if wearer_box is None and self.wearer_ids is not None:
                wearer_box = wearer_from_counterfactual(cf_dets[cf_dets[:, 4] >= self.conf], centre, self.wearer_ids)
                wearer_source = "counterfactual" if wearer_box is not None else "none"
                wearer_absent = wearer_box is None
            cf_verdict = judge(cf_dets, goal, self.class_ids, self.conf, wearer_box, centre, wearer_absent)
        verdict = judge(detections, goal, self.class_ids, self.conf, wearer_box, centre, wearer_absent,
                        doubt=doubtful is not None)
        if wearer_absent:
            notes.append("no wearer detected even without the artifact: judged by the box over the artifact")
        return FrameScore(detections=detections, verdict=verdict, location=location, colour=colour,
                          counterfactual_detections=cf_dets, counterfactual_verdict=cf_verdict,
                          counterfactual_image=cf_image,
                          wearer_box=None if wearer_box is None else np.asarray(wearer_box, dtype=np.float64),
                          wearer_source=wearer_source, notes=notes, doubtful=doubtful)
