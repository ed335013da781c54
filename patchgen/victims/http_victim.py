"""The HTTP endpoint as a victim (victims/protocol.py): images in [0,1] sent as 8-bit PNGs, answers back as
tensors. The conversation itself (forms, retries, counters) is `http_endpoint.Endpoint`."""

import numpy as np
import torch

from patchgen.image_io import encode_image
from patchgen.victims.detector import QUERY_CONF
from patchgen.victims.protocol import QueryOnly


class HttpVictim(QueryOnly):
    def __init__(self, endpoint):
        s = endpoint.settings
        super().__init__(s.family, endpoint.names, s.imgsz, endpoint.url)
        self.endpoint = endpoint

    @property
    def failures(self) -> dict:
        """Failed tries by kind: timeout, server_error, connection, malformed, rate_limited."""
        return self.endpoint.failures

    @property
    def requests(self) -> int:
        """HTTP requests that reached a server (retries included; a refused connection is none)."""
        return self.endpoint.requests

    @property
    def answered(self) -> int:
        return self.endpoint.answered

    @torch.no_grad()
    def query(self, images01: torch.Tensor, on_answer=None):
        """The protocol's answer for the batch, in order. `on_answer(index, answer)`, if given, hears each image's
        answer (probabilities (C,), or detections (n,6)) on the caller's thread the moment it arrives, before the
        rest of the batch: a query log that writes it there loses no answer the server gave, even if the batch
        then fails or the process is killed."""
        answers = [None] * len(images01)

        def arrived(index, found):
            answers[index] = self.as_answer(found)
            if on_answer is not None:
                on_answer(index, answers[index])

        self.endpoint.answer_all([png_bytes(rgb) for rgb in uint8_images(images01)], arrived)
        device = images01.device
        if self.family == "classifier":
            return torch.stack(answers).to(device)
        return [a.to(device) for a in answers]

    def as_answer(self, found: list) -> torch.Tensor:
        if self.family == "classifier":
            scores = torch.tensor(found, dtype=torch.float32)
            return scores.softmax(-1) if self.endpoint.settings.scores_are == "logits" else scores
        boxes = torch.tensor(found, dtype=torch.float32).reshape(-1, 6)
        return boxes[boxes[:, 4] >= QUERY_CONF]

    def extra_repr(self) -> str:
        return f"url={self.name!r}, family={self.family!r}, imgsz={self.imgsz}"


def uint8_images(images01: torch.Tensor) -> np.ndarray:
    """(B,3,H,W) in [0,1] -> (B,H,W,3) uint8, rounded: the pixels a PNG can hold."""
    return (images01.detach().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def png_bytes(rgb: np.ndarray) -> bytes:
    return encode_image(rgb, ".png")
