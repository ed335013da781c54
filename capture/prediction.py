"""The victim on a photo of any size, per family, and what the report keeps of its answer: a detector's boxes in
the photo's own pixels, kept down to SCORE_FLOOR (the histogram and the timeline show how close a miss was); a
classifier's probabilities over the photo as it saw its evaluation images (resized, centre-cropped:
patchgen.class_folders.prepare), its top classes kept."""

from __future__ import annotations

import numpy as np
import torch

from patchgen.class_folders import prepare
from patchgen.victims.protocol import device_of

SCORE_FLOOR = 0.05
TOP_KEPT = 5  # a classifier's classes kept in the report, most probable first


def _detect(victim, rgb: np.ndarray, imgsz: int | None) -> np.ndarray:
    return np.asarray(victim.detect_rgb(rgb, conf=SCORE_FLOOR, imgsz=imgsz)).reshape(-1, 6)


@torch.no_grad()
def _classify(victim, rgb: np.ndarray, imgsz: int | None) -> np.ndarray:
    image = torch.from_numpy(prepare(rgb, imgsz or victim.imgsz)).permute(2, 0, 1)[None].float() / 255
    return victim.predict(image.to(device_of(victim)))[1][0].cpu().numpy().astype(np.float64)


def _detections_record(prediction, names) -> list:
    return [{"box": [round(float(v), 1) for v in d[:4]], "score": round(float(d[4]), 4),
             "class": names[int(d[5])] if names else int(d[5])} for d in prediction]


def _classes_record(prediction, names) -> list:
    return [{"class": names[int(i)], "score": round(float(prediction[i]), 4)}
            for i in np.argsort(-prediction)[:TOP_KEPT]]


# family -> (the victim on a photo, the record's key, what the record keeps)
FAMILIES = {"detector": (_detect, "detections", _detections_record),
            "classifier": (_classify, "top_classes", _classes_record)}


def predict_photo(victim, rgb: np.ndarray, imgsz: int | None) -> np.ndarray:
    """Detectors: (n,6) x1,y1,x2,y2,score,class in photo px; classifiers: (C,) probabilities."""
    return FAMILIES[victim.family][0](victim, rgb, imgsz)


def prediction_record(family: str, prediction, counterfactual, names) -> dict:
    """The report's keys for the victim's answer on the photo and on its counterfactual (None: not scored)."""
    _, key, record = FAMILIES[family]
    return {key: record(prediction, names),
            f"counterfactual_{key}": None if counterfactual is None else record(counterfactual, names)}
