"""A model in an ONNX file, run by ONNX Runtime (CPU), as a query-only victim (victims/protocol.py).

Input: the one image input, float32 or float16, NCHW or NHWC (`layout`); images in [0,1] become
(x * scale - mean) / std per channel, so a model card's numbers go in as printed: scale 1 with mean/std on [0,1]
(torchvision's 0.485...), or scale 255 with mean/std on 0..255 (123.675...; mean 0, std 1 for raw pixels).
Outputs (the first one is read):
- classifier: (B, C) logits (softmaxed here) or probabilities (`output`);
- detector `candidates`: the Ultralytics ONNX export layout (B, 4+C, N): per candidate xywh in input pixels, then C
  class scores in [0,1] (no objectness); NMS runs here (victims/detector.after_nms, iou NMS_IOU);
- detector `detections`: (B, K, 6) rows x1,y1,x2,y2,score,class in input pixels, NMS already done (Ultralytics
  `nms=True` and end-to-end exports); rows below QUERY_CONF are dropped.
Not supported: YOLOv5-style (B, N, 5+C) outputs with objectness, transposed (B, N, 4+C) candidates, TF/SSD-style
boxes + scores + classes outputs, normalised box coordinates, several inputs, integer inputs.
Class names: the `names_file`, else the model's metadata `names` (Ultralytics writes it), else "0".."C-1"."""

import ast
import functools
from dataclasses import dataclass

from patchgen.errors import UserError
from patchgen.ranges import number, path

KEY = "adapter.onnx"
FAMILIES = ("classifier", "detector")
LAYOUTS = ("nchw", "nhwc")
OUTPUTS = {"classifier": ("logits", "probabilities"), "detector": ("candidates", "detections")}
DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16"}


@dataclass
class Settings:
    family: str = "classifier"  # classifier | detector
    imgsz: int = number(0, 0, 16384)  # the square input side; 0: the model's own (required if its input is dynamic)
    scale: float = number(1.0, 0, 65535, open_low=True)  # images in [0,1] are multiplied by it first
    mean: tuple[float, float, float] = number((0.0, 0.0, 0.0))  # per channel, RGB, in scaled units
    std: tuple[float, float, float] = number((1.0, 1.0, 1.0), 0, None, open_low=True)
    layout: str = "nchw"  # nchw | nhwc
    names_file: str = path()  # class names file, one per line; empty: the model's metadata, else "0".."C-1"
    output: str = ""  # classifier: logits | probabilities; detector: candidates | detections; empty: the first

    def check(self, key: str) -> None:
        if self.family not in FAMILIES:
            raise UserError(f"config key '{key}.family' = {self.family!r}: it must be one of {', '.join(FAMILIES)}")
        if self.layout not in LAYOUTS:
            raise UserError(f"config key '{key}.layout' = {self.layout!r}: it must be one of {', '.join(LAYOUTS)}")
        if self.output and self.output not in OUTPUTS[self.family]:
            raise UserError(f"config key '{key}.output' = {self.output!r}: a {self.family}'s output is one of "
                            f"{', '.join(OUTPUTS[self.family])}")


def load(name: str, settings: Settings):
    """The ONNX victim for the file `name`, as `settings` describe it."""
    import onnxruntime
    import torch

    from patchgen.errors import require_file

    settings.check(KEY)
    path = require_file(name, "ONNX model")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()  # the run's one thread setting, as torch's
    options.log_severity_level = 3  # errors only: ORT's warnings are about its own graph rewrites
    try:
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # ORT raises its own untyped classes: InvalidProtobuf, Fail, InvalidGraph...
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if type(err).__name__ == "InvalidProtobuf":
            raise UserError(f"{name} is not an ONNX model ({reason}): check the file, or export the model "
                            "again") from None
        raise UserError(f"ONNX Runtime cannot run {name}: {reason}") from None
    return _victim_class()(session, settings, name)


@functools.cache
def _victim_class():
    """The victim class, built once on first use: QueryOnly needs torch, which this module must not import at its
    top (the config reads Settings before torch loads)."""
    import numpy as np
    import torch

    from patchgen.victims.detector import NMS_IOU, QUERY_CONF, DetectorOutput, after_nms
    from patchgen.victims.names_file import check_count, read_names
    from patchgen.victims.protocol import QueryOnly

    class OnnxVictim(QueryOnly):
        """A session of one ONNX model: images in, its first output read as settings.family says."""

        def __init__(self, session, settings: Settings, name: str):
            inputs = session.get_inputs()
            if len(inputs) != 1:
                raise UserError(f"{name} takes {len(inputs)} inputs; an ONNX victim takes one image tensor")
            image = inputs[0]
            if image.type not in DTYPES or len(image.shape) != 4:
                raise UserError(f"{name} takes a {image.type} input of shape {image.shape}; an ONNX victim feeds "
                                "one float (B,3,H,W) or (B,H,W,3) image tensor")
            batch, *dims = image.shape
            channels, height, width = dims if settings.layout == "nchw" else (dims[2], dims[0], dims[1])
            if _fixed(channels) and channels != 3:
                hint = " (is its layout nhwc?)" if settings.layout == "nchw" else " (is its layout nchw?)"
                raise UserError(f"{name} takes {channels}-channel images{hint}; set {KEY}.layout to match")
            if _fixed(batch) and batch != 1:
                raise UserError(f"{name} takes batches of exactly {batch}; export it with a batch of 1 or dynamic")
            side = _side(height, width, settings.imgsz, name)
            super().__init__(settings.family, [], side, name)
            self.session, self.input_name, self.dtype = session, image.name, DTYPES[image.type]
            self.output_name = session.get_outputs()[0].name
            self.fixed_side = height if _fixed(height) else None
            self.batched = not _fixed(batch)  # else one image per run
            self.layout, self.scale = settings.layout, settings.scale
            self.mean = torch.tensor(settings.mean, dtype=torch.float32).view(1, 3, 1, 1)
            self.std = torch.tensor(settings.std, dtype=torch.float32).view(1, 3, 1, 1)
            self.output = settings.output or OUTPUTS[settings.family][0]
            classes = self._classes(self._run(torch.zeros(1, 3, side, side)).shape)
            self.names = self._names(settings.names_file, session.get_modelmeta().custom_metadata_map, classes)

        def _classes(self, shape) -> int | None:
            """The number of classes the output shape says (None where it does not: detections rows)."""
            if self.family == "classifier" and len(shape) == 2:
                return shape[1]
            if self.family == "detector" and self.output == "candidates" and len(shape) == 3 and shape[1] > 4:
                return shape[1] - 4
            if self.family == "detector" and self.output == "detections" and len(shape) == 3 and shape[2] == 6:
                return None
            expected = {"logits": "(batch, classes)", "probabilities": "(batch, classes)",
                        "candidates": "(batch, 4+classes, candidates)", "detections": "(batch, detections, 6)"}
            raise UserError(f"{self.name}'s output is {tuple(shape)}, not a {self.family}'s {self.output} "
                            f"{expected[self.output]}; set {KEY}.family and {KEY}.output to what it gives")

        def _names(self, names_file: str, metadata: dict, classes: int | None) -> list[str]:
            if names_file:
                names = read_names(names_file, f"{KEY}.names_file")
                return names if classes is None else check_count(names, classes, names_file, self.name,
                                                                 f"{KEY}.names_file")
            if "names" in metadata:
                try:
                    stored = ast.literal_eval(metadata["names"])
                except (ValueError, SyntaxError):
                    stored = None
                if not isinstance(stored, (dict, list)):
                    raise UserError(f"{self.name}'s metadata 'names' is not a list or dict of class names; give "
                                    f"{KEY}.names_file a file of names, one per line")
                names = [str(stored[i]) for i in sorted(stored)] if isinstance(stored, dict) else list(stored)
                return names if classes is None else check_count(names, classes, "its metadata", self.name,
                                                                 f"{KEY}.names_file")
            if classes is None:
                raise UserError(f"{self.name}'s detections do not say how many classes it has: give {KEY}.names_file "
                                "a file of its class names, one per line")
            return [str(i) for i in range(classes)]

        def _run(self, images01: torch.Tensor) -> np.ndarray:
            """The model's first output for a batch, one run per image where its batch size is fixed."""
            if self.fixed_side and images01.shape[-1] != self.fixed_side:
                raise UserError(f"{self.name} takes {self.fixed_side} px images, not {images01.shape[-1]} px: "
                                f"leave imgsz at 0 (the model's own) or set it to {self.fixed_side}")
            x = (images01.detach().float().cpu() * self.scale - self.mean) / self.std
            if self.layout == "nhwc":
                x = x.permute(0, 2, 3, 1)
            x = x.contiguous().numpy().astype(self.dtype)
            chunks = [x] if self.batched else [x[i:i + 1] for i in range(len(x))]
            return np.concatenate([self.session.run([self.output_name], {self.input_name: c})[0] for c in chunks])

        @torch.no_grad()
        def query(self, images01: torch.Tensor):
            raw = torch.from_numpy(self._run(images01)).float()
            if self.family == "classifier":
                return (raw.softmax(dim=-1) if self.output == "logits" else raw).to(images01.device)
            if self.output == "candidates":
                candidates = raw.transpose(1, 2)  # (B,N,4+C)
                out = DetectorOutput(boxes_xywh=candidates[..., :4], class_scores=candidates[..., 4:])
                detections = after_nms(out, QUERY_CONF, NMS_IOU)
            else:
                detections = [d[d[:, 4] >= QUERY_CONF] for d in raw]
            return [d.to(images01.device) for d in detections]

    return OnnxVictim


def _fixed(dim) -> bool:
    """ORT gives a static dimension as a positive int, a dynamic one as a name or None."""
    return isinstance(dim, int) and dim > 0


def _side(height, width, imgsz: int, name: str) -> int:
    """The square side the model is fed: its own where its input is fixed, else imgsz."""
    if _fixed(height) and _fixed(width):
        if height != width:
            raise UserError(f"{name} takes {height}x{width} images; patchgen victims take square inputs")
        if imgsz and imgsz != height:
            raise UserError(f"{name} takes {height} px images only: set {KEY}.imgsz to 0 or {height}")
        return height
    if not imgsz:
        raise UserError(f"{name} takes images of any size: set {KEY}.imgsz to the side it was trained at")
    return imgsz
