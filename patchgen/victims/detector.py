"""What every detector victim returns, and the shared inference on top of it (NMS, photos of any size)."""

from dataclasses import dataclass

import numpy as np
import torch
import torchvision

from patchgen.victims.class_names import ClassNames


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


class DetectorVictim(ClassNames, torch.nn.Module):
    """A detector behind one interface: `forward(images01) -> DetectorOutput`. Subclasses implement forward."""

    family = "detector"

    def __init__(self, names: list[str], imgsz: int, name: str):
        super().__init__()
        self.names = list(names)
        self.imgsz = int(imgsz)
        self.name = name

    @torch.no_grad()
    def detect(self, images01: torch.Tensor, conf: float = 0.25, iou: float = 0.45, max_det: int = 300):
        """Boxes after NMS: a list (one per image) of (n,6) tensors x1,y1,x2,y2,score,class in input pixels."""
        out = self(images01)
        scores, labels = out.confidence().max(dim=-1)
        boxes = xywh_to_xyxy(out.boxes_xywh)
        results = []
        for b in range(images01.shape[0]):
            keep = scores[b] > conf
            box, score, label = boxes[b][keep], scores[b][keep], labels[b][keep]
            kept = torchvision.ops.batched_nms(box.float(), score.float(), label, iou)[:max_det]
            results.append(torch.cat([box[kept], score[kept, None], label[kept, None].to(box.dtype)], 1).float())
        return results

    @torch.no_grad()
    def detect_rgb(self, rgb: np.ndarray, conf: float = 0.25, imgsz: int | None = None, iou: float = 0.45):
        """Detections on a photo of any size (uint8 HxWx3 RGB), boxes in that photo's own pixels."""
        from patchgen.letterbox import letterbox

        boxed = letterbox(rgb, imgsz or self.imgsz)
        device = next(self.parameters()).device
        image = torch.from_numpy(boxed.image).permute(2, 0, 1)[None].to(device).float() / 255
        dets = self.detect(image, conf=conf, iou=iou)[0].cpu().numpy()
        dets[:, :4] = boxed.to_original(dets[:, :4])
        return dets
