"""The embedded default victim: NudeNet's YOLOv8n detector (`320n.onnx`, 18 classes, AGPL-3.0), rebuilt as an
Ultralytics DetectionModel so it is differentiable. Its ONNX initializers are the fused model's state dict."""

from pathlib import Path

import torch

from patchgen.errors import UserError
from patchgen.victims.ultralytics_detector import UltralyticsDetector

NAMES = [
    "FEMALE_GENITALIA_COVERED", "FACE_FEMALE", "BUTTOCKS_EXPOSED", "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED", "MALE_BREAST_EXPOSED", "ANUS_EXPOSED", "FEET_EXPOSED", "BELLY_COVERED",
    "FEET_COVERED", "ARMPITS_COVERED", "ARMPITS_EXPOSED", "FACE_MALE", "BELLY_EXPOSED",
    "MALE_GENITALIA_EXPOSED", "ANUS_COVERED", "FEMALE_BREAST_COVERED", "BUTTOCKS_COVERED",
]  # fmt: skip
FACE_CLASSES = (1, 12)


def onnx_path() -> Path:
    """NudeNet's 320n.onnx, from the nudenet package (installed with --no-deps, see README), found without
    importing it: its __init__ loads onnxruntime and OpenCV."""
    import importlib.util

    spec = importlib.util.find_spec("nudenet")
    if spec is None:
        raise UserError("nudenet-320n needs the nudenet package for its weights: "
                        "pip install --no-deps nudenet==3.4.2 (--no-deps: it names a second OpenCV wheel)")
    return Path(spec.submodule_search_locations[0]) / "320n.onnx"


def load_nudenet_face(name: str = "nudenet-320n") -> UltralyticsDetector:
    import onnx
    from onnx import numpy_helper
    from ultralytics.nn.tasks import DetectionModel, yaml_model_load

    spec = {**yaml_model_load("yolov8n.yaml"), "nc": len(NAMES)}  # nc set up front: no 'overriding' log line
    model = DetectionModel(spec, nc=len(NAMES), verbose=False).fuse(verbose=False)
    state = model.state_dict()
    weights = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(onnx_path())).graph.initializer}
    model.load_state_dict({k: torch.from_numpy(weights[k].copy()) for k in state})
    return UltralyticsDetector(model, NAMES, imgsz=640, name=name)
