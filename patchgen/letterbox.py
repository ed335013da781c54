"""Letterboxing: fit an image into a square input without distortion, and map boxes back."""

from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114  # the grey Ultralytics pads with, so victims see what they were trained on


@dataclass
class Letterboxed:
    image: np.ndarray  # (S,S,3) uint8
    scale: float
    pad: tuple[float, float]  # (left, top) in pixels

    def to_original(self, xyxy: np.ndarray) -> np.ndarray:
        out = np.array(xyxy, dtype=np.float32, copy=True)
        out[..., [0, 2]] = (out[..., [0, 2]] - self.pad[0]) / self.scale
        out[..., [1, 3]] = (out[..., [1, 3]] - self.pad[1]) / self.scale
        return out

    def to_letterboxed(self, xyxy: np.ndarray) -> np.ndarray:
        out = np.array(xyxy, dtype=np.float32, copy=True)
        out[..., [0, 2]] = out[..., [0, 2]] * self.scale + self.pad[0]
        out[..., [1, 3]] = out[..., [1, 3]] * self.scale + self.pad[1]
        return out


def letterbox(rgb: np.ndarray, size: int) -> Letterboxed:
    h, w = rgb.shape[:2]
    scale = min(size / h, size / w)
    new_w, new_h = round(w * scale), round(h * scale)
    resized = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    left, top = (size - new_w) // 2, (size - new_h) // 2
    canvas = np.full((size, size, 3), PAD_VALUE, dtype=np.uint8)
    canvas[top : top + new_h, left : left + new_w] = resized
    return Letterboxed(canvas, scale, (float(left), float(top)))
