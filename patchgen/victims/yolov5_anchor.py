"""The original anchor-based YOLOv5 (release 6.x): Ultralytics' `parse_model` builds the body from the saved
yaml; the head here is the small anchor-grid detector with objectness that Ultralytics no longer ships."""

import copy

import torch
from ultralytics.nn.tasks import parse_model
from ultralytics.utils.torch_utils import fuse_conv_and_bn

from patchgen.victims.detector import DetectorOutput, DetectorVictim
from patchgen.victims.frozen import freeze


class AnchorHead(torch.nn.Module):
    """YOLOv5 `Detect`: per level, a 1x1 conv to anchors x (xywh, obj, classes), decoded on the anchor grid."""

    def __init__(self, nc: int, anchors: torch.Tensor, channels: list[int], strides: list[int]):
        super().__init__()
        self.nc, self.no, self.na = nc, nc + 5, anchors.shape[1]
        self.m = torch.nn.ModuleList(torch.nn.Conv2d(c, self.no * self.na, 1) for c in channels)
        self.register_buffer("anchors", anchors)  # (levels, na, 2) in stride units, as YOLOv5 saves them
        self.strides = strides
        self._grids = {}

    def grid(self, level: int, h: int, w: int, device, dtype):
        key = (level, h, w, device, dtype)
        if key not in self._grids:
            ys, xs = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
            xy = torch.stack([xs, ys], -1).to(dtype).view(1, 1, h, w, 2) - 0.5
            wh = (self.anchors[level] * self.strides[level]).to(dtype).view(1, self.na, 1, 1, 2)
            self._grids[key] = (xy, wh)
        return self._grids[key]

    def forward(self, feats: list[torch.Tensor]) -> DetectorOutput:
        decoded = []
        for level, x in enumerate(feats):
            b, _, h, w = x.shape
            p = self.m[level](x).view(b, self.na, self.no, h, w).permute(0, 1, 3, 4, 2).sigmoid()
            xy_grid, anchor_wh = self.grid(level, h, w, x.device, p.dtype)
            xy = (p[..., :2] * 2 + xy_grid) * self.strides[level]
            wh = (p[..., 2:4] * 2) ** 2 * anchor_wh
            decoded.append(torch.cat([xy, wh, p[..., 4:]], -1).view(b, -1, self.no))
        y = torch.cat(decoded, 1)
        return DetectorOutput(boxes_xywh=y[..., :4], objectness=y[..., 4], class_scores=y[..., 5:])


class AnchorYOLOv5(DetectorVictim):
    def __init__(self, checkpoint: dict, name: str, imgsz: int = 640):
        super().__init__(checkpoint["names"], imgsz, name)
        spec = copy.deepcopy(checkpoint["yaml"])
        *body_spec, (sources, _, _, _) = spec["head"]
        spec["head"] = body_spec
        self.body, save = parse_model(spec, ch=spec.get("ch", 3), verbose=False)
        self.save = set(save) | set(sources)
        self.sources = sources
        anchors = checkpoint["state_dict"]["model.24.anchors"].float()
        channels = [checkpoint["state_dict"][f"model.24.m.{i}.weight"].shape[1] for i in range(len(sources))]
        self.head = AnchorHead(len(self.names), anchors, channels, strides=[8, 16, 32])
        state = {k[len("model.") :]: v.float() for k, v in checkpoint["state_dict"].items()}
        head_prefix = f"{len(self.body)}."
        self.body.load_state_dict({k: v for k, v in state.items() if not k.startswith(head_prefix)})
        self.head.load_state_dict({k[len(head_prefix) :]: v for k, v in state.items() if k.startswith(head_prefix)})
        for m in self.body.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.eps = 1e-3  # YOLOv5 trained with eps 1e-3; torch's default 1e-5 shifts every activation
        self._fuse()
        freeze(self)

    def _fuse(self):
        """Fold BatchNorm into the convolutions, as Ultralytics does for inference: fewer ops per step."""
        for m in self.body.modules():
            if hasattr(m, "bn") and hasattr(m, "conv") and hasattr(m, "forward_fuse"):
                m.conv = fuse_conv_and_bn(m.conv, m.bn)
                delattr(m, "bn")
                m.forward = m.forward_fuse

    def forward(self, images01: torch.Tensor) -> DetectorOutput:
        x, saved = images01, {}
        for layer in self.body:
            if layer.f != -1:
                x = saved[layer.f] if isinstance(layer.f, int) else [x if j == -1 else saved[j] for j in layer.f]
            x = layer(x)
            if layer.i in self.save:
                saved[layer.i] = x
        return self.head([saved[i] for i in self.sources])
