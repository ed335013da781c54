"""The victim protocol: what the engine asks of any model it attacks, white-box or behind a query.

Every victim has
- `family` ("classifier" | "detector"), `names` (its classes, index order), `imgsz` (its square input side),
  `name` (what the user called it) and `differentiable` (whether `forward` carries gradients to the input);
- `forward(images01)` -> its raw output, differentiable where the victim allows it (classifier logits (B,C); a
  detector's `DetectorOutput` of per-candidate boxes and scores): what gradient optimisers train through;
- `query(images01)` -> what the victim really exposes to a caller, without gradients: a classifier's probabilities
  (B,C), a detector's post-NMS detections (a list, one (n,6) tensor x1,y1,x2,y2,score,class per image, in input
  pixels). Query optimisers see only this, counted and cached by `patchgen.queries.Account`.

Images are (B,3,imgsz,imgsz) float in [0,1] on the victim's device. A query-only victim (an ONNX file, an OpenCV
`dnn` graph, an HTTP endpoint) subclasses `QueryOnly`."""

import torch

from patchgen.goals.thresholds import FOUND_CONF
from patchgen.victims.class_names import ClassNames
from patchgen.victims.detector import DetectorOutput


def device_of(victim) -> torch.device:
    """Where the victim runs (a query-only one holds no weights, only a marker buffer)."""
    for tensor in (*victim.parameters(), *victim.buffers()):
        return tensor.device
    return torch.device("cpu")


class QueryOnly(ClassNames, torch.nn.Module):
    """A victim that answers queries only: no gradients reach its input, and `forward` is its answer in the form
    the goals read (`as_output`), so evaluation and the query optimisers treat it like any other victim."""

    differentiable = False

    def __init__(self, family: str, names: list[str], imgsz: int, name: str):
        super().__init__()
        self.family, self.names, self.imgsz, self.name = family, list(names), int(imgsz), name
        self.register_buffer("anchor", torch.zeros(0))  # .to(device) moves it: the device answers are put on

    def query(self, images01: torch.Tensor):
        raise NotImplementedError

    @torch.no_grad()
    def forward(self, images01: torch.Tensor):
        return as_output(self, self.query(images01))

    @torch.no_grad()
    def predict(self, images01: torch.Tensor):
        """Classifiers: (top-1 class (B,), probabilities (B,C)), as ClassifierVictim.predict."""
        probs = self.query(images01).float()
        return probs.argmax(dim=-1), probs

    @torch.no_grad()
    def detect(self, images01: torch.Tensor, conf: float = FOUND_CONF, iou: float = 0.45, max_det: int = 300):
        """Detectors: the answer's detections at or above conf (the model's own NMS already ran)."""
        return [d[d[:, 4] >= conf][:max_det] for d in self.query(images01)]


def as_output(victim, answer):
    """A query's answer in the form the goals' losses read: a classifier's log-probabilities (log_softmax of them
    is themselves), a detector's detections as a DetectorOutput with one candidate per detection (its score on its
    own class, zero on the others; images padded with empty candidates)."""
    if victim.family == "classifier":
        return answer.float().clamp(min=1e-12).log()
    rows = max((len(d) for d in answer), default=0)
    device = answer[0].device if len(answer) else torch.device("cpu")
    boxes = torch.zeros(len(answer), max(rows, 1), 4, device=device)
    boxes[..., 2:] = 1  # empty candidates: a 1 px box of score 0
    scores = torch.zeros(len(answer), max(rows, 1), len(victim.names), device=device)
    for i, d in enumerate(answer):
        if len(d):
            xy1, xy2 = d[:, :2], d[:, 2:4]
            boxes[i, : len(d)] = torch.cat([(xy1 + xy2) / 2, xy2 - xy1], 1)
            scores[i, torch.arange(len(d), device=device), d[:, 5].long()] = d[:, 4]
    return DetectorOutput(boxes, scores)
