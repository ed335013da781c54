"""Every Ultralytics detector family (YOLOv5u, YOLOv8, YOLO11, ...) through one code path on `YOLO(...).model`."""

import torch

from patchgen.victims.detector import DetectorOutput, DetectorVictim
from patchgen.victims.frozen import freeze


class UltralyticsDetector(DetectorVictim):
    """Wraps an `ultralytics.nn.tasks.DetectionModel`; its head decodes to (B, 4+nc, N): xywh px + class scores."""

    def __init__(self, model: torch.nn.Module, names, imgsz: int, name: str):
        super().__init__(names, imgsz, name)
        head = model.model[-1]
        if getattr(head, "end2end", False) and getattr(head, "cv2", None) is not None:
            head.end2end = False  # NMS-free heads: read the one-to-many branch, which gives dense scores
        self.model = freeze(model)

    def forward(self, images01: torch.Tensor) -> DetectorOutput:
        y = self.model(images01)
        y = y[0] if isinstance(y, (tuple, list)) else y
        y = y.transpose(1, 2)  # (B,N,4+nc)
        return DetectorOutput(boxes_xywh=y[..., :4], class_scores=y[..., 4:])


def names_list(names) -> list[str]:
    if isinstance(names, dict):
        return [names[i] for i in sorted(names)]
    return list(names)
