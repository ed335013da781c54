"""What every detector victim returns, and the shared inference on top of it (NMS, photos of any size)."""

from dataclasses import dataclass

import numpy as np
import torch
import torchvision

from patchgen.goals.thresholds import FOUND_CONF
from patchgen.victims.class_names import ClassNames

QUERY_CONF = 0.001  # the lowest score a detector's answer to a query keeps: the AP's floor (detector_match.AP_CONF)
NMS_IOU = 0.45  # boxes of one class overlapping more than this are one object
MAX_DET = 300  # detections kept per image


@dataclass
class DetectorOutput:
    """Per-candidate predictions, differentiable: boxes (B,N,4) xywh in input pixels, scores in [0,1]."""

    boxes_xywh: torch.Tensor
    class_scores: torch.Tensor  # (B,N,C)
    objectness: torch.Tensor | None = None  # (B,N), only for families that have it (anchor YOLOv5)

    def confidence(self) -> torch.Tensor:
        """(B,N,C): objectness x class score where the family has objectness, else the class score."""
        if self.objectness is None:
            return self.class_scores
        return self.objectness.unsqueeze(-1) * self.class_scores


def xywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    xy, wh = boxes[..., :2], boxes[..., 2:4] / 2
    return torch.cat([xy - wh, xy + wh], dim=-1)


def after_nms(out: DetectorOutput, conf: float, iou: float = NMS_IOU, max_det: int = MAX_DET) -> list[torch.Tensor]:
    """Candidates to detections: per image, those scoring above conf, class-wise NMS at iou, the best max_det; a
    list of (n,6) tensors x1,y1,x2,y2,score,class in input pixels. Shared by every detector, white-box or not."""
    scores, labels = out.confidence().max(dim=-1)
    boxes = xywh_to_xyxy(out.boxes_xywh)
    results = []
    for b in range(boxes.shape[0]):
        keep = scores[b] > conf
        box, score, label = boxes[b][keep], scores[b][keep], labels[b][keep]
        kept = torchvision.ops.batched_nms(box.float(), score.float(), label, iou)[:max_det]
        results.append(torch.cat([box[kept], score[kept, None], label[kept, None].to(box.dtype)], 1).float())
    return results


class DetectorVictim(ClassNames, torch.nn.Module):
    """A detector behind one interface: `forward(images01) -> DetectorOutput`. Subclasses implement forward."""

    family = "detector"
    differentiable = True

    def __init__(self, names: list[str], imgsz: int, name: str):
        super().__init__()
        self.names = list(names)
        self.imgsz = int(imgsz)
        self.name = name

    @torch.no_grad()
    def detect(self, images01: torch.Tensor, conf: float = FOUND_CONF, iou: float = NMS_IOU, max_det: int = MAX_DET):
        """Boxes after NMS: a list (one per image) of (n,6) tensors x1,y1,x2,y2,score,class in input pixels."""
        return after_nms(self(images01), conf, iou, max_det)

    def query(self, images01: torch.Tensor):
        """What a caller of the model sees (victims/protocol.py): post-NMS detections down to QUERY_CONF."""
        return self.detect(images01, conf=QUERY_CONF)

    @torch.no_grad()
    def detect_rgb(self, rgb: np.ndarray, conf: float = FOUND_CONF, imgsz: int | None = None, iou: float = NMS_IOU):
        """Detections on a photo of any size (uint8 HxWx3 RGB), boxes in that photo's own pixels."""
        from patchgen.letterbox import letterbox

        boxed = letterbox(rgb, imgsz or self.imgsz)
        device = next(self.parameters()).device
        image = torch.from_numpy(boxed.image).permute(2, 0, 1)[None].to(device).float() / 255
        dets = self.detect(image, conf=conf, iou=iou)[0].cpu().numpy()
        dets[:, :4] = boxed.to_original(dets[:, :4])
        return dets
