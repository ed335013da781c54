"""A graph run by OpenCV's `dnn` module, as a query-only victim (victims/protocol.py): `opencv_dnn:MODEL`, with
the graph's text config (a TensorFlow .pbtxt, a Caffe .prototxt) in `adapter.opencv_dnn.config` where it has one.

Which files load is OpenCV's to say: 4.x reads TensorFlow, Caffe, Darknet, ONNX and (float) TFLite graphs; 5.x
removed the TensorFlow and Caffe importers. Images in [0,1] become the uint8 BGR frames OpenCV code reads from a
camera, then `cv2.dnn.blobFromImages(frames, scale, (imgsz, imgsz), mean, swap_rb)`, so the settings of the model's
own OpenCV sample go in unchanged (the TF SSD-MobileNet COCO graph: scale 1, mean 0, swap_rb true, imgsz 300).
Outputs (the last layer's):
- classifier: (B, C) logits (softmaxed here) or probabilities (`output`);
- detector: the SSD `DetectionOutput` layout (1, 1, N, 7), rows [image, class, score, x1, y1, x2, y2] with corners
  in [0,1] of the input, NMS already done by the graph (and its own score floor: 0.01 in the TF SSD configs);
  corners are scaled to input pixels. Class ids index the `names_file` (a TF Object Detection API graph's id 0 is
  its background, ids 1-90 COCO's), which a detector needs: OpenCV tells no class names.
Not supported: YOLO-style candidate outputs (run those as ONNX: victims/onnx_runtime.py), several outputs."""

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from patchgen.errors import UserError
from patchgen.ranges import number, path

KEY = "adapter.opencv_dnn"
# the TF Object Detection API's COCO class ids, one name a line: 0 its background, then the 90 ids of the COCO
# paper (80 of them used), for SSD graphs such as SSD-MobileNetV2 COCO (adapter.opencv_dnn.names_file)
COCO_91_NAMES = Path(__file__).with_name("coco91_names.txt")
PREFIX = "opencv_dnn:"
FAMILIES = ("classifier", "detector")
CLASSIFIER_OUTPUTS = ("logits", "probabilities")


@dataclass
class Settings:
    family: str = "classifier"  # classifier | detector
    imgsz: int = number(300, 1, 16384)  # the square side the graph is fed
    scale: float = number(1.0, 0, 65535, open_low=True)  # blobFromImage's scalefactor, on 0..255 pixels
    mean: tuple[float, float, float] = number((0.0, 0.0, 0.0))  # blobFromImage's mean, 0..255, subtracted first
    swap_rb: bool = True  # blobFromImage's swapRB: the graph takes RGB (false: BGR, as OpenCV reads images)
    config: str = path()  # the graph's text config file (.pbtxt, .prototxt), where its format has one
    names_file: str = path()  # class names file, one per line, line i naming class id i; detectors need one
    output: str = ""  # classifiers: logits | probabilities (empty: logits)
    conf: float = number(0.0, 0, 1)  # detections scoring below it are dropped (as a system that shows only these)

    def check(self, key: str) -> None:
        if self.family not in FAMILIES:
            raise UserError(f"config key '{key}.family' = {self.family!r}: it must be one of {', '.join(FAMILIES)}")
        if self.output and (self.family != "classifier" or self.output not in CLASSIFIER_OUTPUTS):
            raise UserError(f"config key '{key}.output' = {self.output!r}: only a classifier's output is chosen, "
                            f"one of {', '.join(CLASSIFIER_OUTPUTS)}")
        if self.family == "detector" and not self.names_file:
            raise UserError(f"config key '{key}.names_file' is needed for a detector: a file of its class names, one "
                            "per line, line i naming the class id the graph outputs (COCO SSDs: background first)")


def load(name: str, settings: Settings):
    """The victim for `opencv_dnn:MODEL`, as `settings` describe it."""
    import cv2

    from patchgen.errors import require_file

    model = name[len(PREFIX):] if name.startswith(PREFIX) else ""
    if not model:
        raise UserError(f"{name}: an OpenCV graph is {PREFIX}MODEL, e.g. {PREFIX}frozen_inference_graph.pb")
    settings.check(KEY)
    require_file(model, "OpenCV model")
    config = str(require_file(settings.config, f"{KEY}.config file")) if settings.config else ""
    try:
        net = cv2.dnn.readNet(model, config)
    except cv2.error as err:
        raise UserError(f"{model} is not a graph OpenCV {cv2.__version__} can read: {opencv_reason(err)}") from None
    if net.empty():
        raise UserError(f"{model} is not a graph OpenCV {cv2.__version__} can read (is it a model file?)")
    return _victim_class()(net, settings, name)


def opencv_reason(err) -> str:
    """The sentence of a cv2.error, without OpenCV's source file, code and function around it."""
    text = " ".join(str(err).split())
    found = re.search(r"error: \([^)]*\) (.*?)(?: in function '[^']*')?$", text)
    return found.group(1) if found else text


@functools.cache
def _victim_class():
    """The victim class, built once on first use: QueryOnly needs torch, which this module must not import at its
    top (the config reads Settings before torch loads)."""
    import cv2
    import numpy as np
    import torch

    from patchgen.victims.detector import QUERY_CONF
    from patchgen.victims.names_file import check_count, read_names
    from patchgen.victims.protocol import QueryOnly

    class OpenCVDnnVictim(QueryOnly):
        """One cv2.dnn.Net: a batch in, its last layer's output read as settings.family says."""

        def __init__(self, net, settings: Settings, name: str):
            super().__init__(settings.family, [], settings.imgsz, name)
            self.net, self.settings = net, settings
            self.floor = max(settings.conf, QUERY_CONF)
            probe = self._run(torch.zeros(1, 3, self.imgsz, self.imgsz))
            names = read_names(settings.names_file, f"{KEY}.names_file") if settings.names_file else None
            if self.family == "classifier":
                if probe.ndim != 2:
                    raise UserError(f"{name}'s output is {probe.shape}, not a classifier's (batch, classes); if it "
                                    f"is an SSD detector set {KEY}.family: detector")
                classes = probe.shape[1]
                self.names = (check_count(names, classes, settings.names_file, name, f"{KEY}.names_file") if names
                              else [str(i) for i in range(classes)])
            else:
                if probe.ndim != 4 or probe.shape[-1] != 7:
                    raise UserError(f"{name}'s output is {probe.shape}, not an SSD's detections (1, 1, N, 7); a "
                                    f"classifier's is {KEY}.family: classifier")
                self.names = names

        def _run(self, images01: torch.Tensor) -> np.ndarray:
            """The graph's output for the batch, fed as an OpenCV program feeds its camera frames."""
            pixels = (images01.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8)
            frames = [np.ascontiguousarray(p.permute(1, 2, 0).numpy()[..., ::-1]) for p in pixels]  # BGR
            s = self.settings
            self.net.setInput(cv2.dnn.blobFromImages(frames, s.scale, (self.imgsz, self.imgsz), s.mean, s.swap_rb,
                                                     crop=False))
            try:
                return self.net.forward()
            except cv2.error as err:
                raise UserError(f"OpenCV {cv2.__version__} cannot run {self.name}: {opencv_reason(err)}") from None

        @torch.no_grad()
        def query(self, images01: torch.Tensor):
            raw = torch.from_numpy(self._run(images01)).float()
            if self.family == "classifier":
                probs = raw.softmax(dim=-1) if self.settings.output in ("", "logits") else raw
                return probs.to(images01.device)
            rows = raw.reshape(-1, 7)
            rows = rows[rows[:, 2] >= self.floor]
            if len(rows) and rows[:, 1].max() >= len(self.names):
                raise UserError(f"{self.name} outputs class id {int(rows[:, 1].max())} but {KEY}.names_file lists "
                                f"{len(self.names)} classes; give one name per class id, from 0")
            answers = []
            for i in range(len(images01)):
                mine = rows[rows[:, 0] == i]
                boxes = mine[:, 3:7] * self.imgsz  # corners in [0,1] of the input -> input pixels
                answers.append(torch.cat([boxes, mine[:, 2:3], mine[:, 1:2]], 1).to(images01.device))
            return answers

    return OpenCVDnnVictim
