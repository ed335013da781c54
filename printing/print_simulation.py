"""A simulated print-and-photograph trip, for tests and benchmarks where no printer is at hand.

Two colour distortions, each a fixed, smooth, known map in torch, so the same distortion can be applied to a
rendered chart (to test the colour-model fit) and to a patch before scoring (to test that training with the colour
model helps):

- `PrintColourDistortion` ("tonal"): per-channel tone curves, a mild ink crosstalk, paper white and black and a
  camera white balance. It is mostly a change of contrast, gamma and saturation, which EOT's brightness/contrast
  jitter already covers in large part.
- `InkjetColourDistortion` ("inkjet"): a cheap inkjet on plain (uncoated) office paper, built from its typical
  failures. Its parameters were chosen from the reasoning below and fixed before any attack was scored with it:
  1. Dot gain: ink spreads into uncoated paper fibres, so every tint prints with more coverage than asked and the
     mid-tones come out darker; the driver's linearisation removes only part of it. Modelled as a per-channel
     power `rgb ** 1.5` (a 50% grey prints near 35% reflectance before the paper limits).
  2. Gamut compression: three dye inks on plain paper reach far less chroma than an sRGB display; saturated
     colours are pulled toward grey. Modelled as CIELAB chroma x0.6 (a*, b* scaled, L* kept).
  3. Ink cross-talk / hue shift: the inks' unwanted absorptions (cyan absorbs some green, magenta some blue) and
     the driver's separation turn hues; modelled as a rotation of +12 degrees in the a*b* plane.
  4. Paper white and black: paper reflects at most ~90% and black ink leaves ~8%; the output is mapped to
     [0.08, 0.92] (neutral; the camera white-balances the paper).
  Order: dot gain (on the inks), then gamut and hue (in CIELAB, D65), then clipped to sRGB, then the paper limits.
  None of it is in EOT's jitter (which has no hue or saturation terms), so this is the case where a fitted colour
  model should matter.

`photograph` is the camera part on a uint8 image: perspective, blur, noise, JPEG, optionally upside down.
"""

from __future__ import annotations

import math

import cv2
import kornia.color
import numpy as np
import torch


class _ColourDistortion(torch.nn.Module):
    def apply_uint8(self, image_rgb: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(image_rgb.astype(np.float32) / 255.0).permute(2, 0, 1)
        with torch.no_grad():
            y = self(x)
        return (y.permute(1, 2, 0).numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8)


class PrintColourDistortion(_ColourDistortion):
    """rgb01 -> black + (white - black) * clamp(M @ rgb ** gamma): a cheap inkjet on office paper, photographed."""

    def __init__(self, gamma=(1.25, 1.10, 1.35), crosstalk=((0.82, 0.12, 0.06), (0.10, 0.78, 0.12), (0.05, 0.17, 0.78)),
                 black=(0.11, 0.10, 0.13), white=(0.94, 0.91, 0.84)):
        super().__init__()
        self.register_buffer("gamma", torch.tensor(gamma, dtype=torch.float32).view(3, 1, 1))
        self.register_buffer("crosstalk", torch.tensor(crosstalk, dtype=torch.float32))
        self.register_buffer("black", torch.tensor(black, dtype=torch.float32).view(3, 1, 1))
        self.register_buffer("white", torch.tensor(white, dtype=torch.float32).view(3, 1, 1))

    def forward(self, rgb01: torch.Tensor) -> torch.Tensor:
        x = rgb01.clamp(0, 1) ** self.gamma
        mixed = torch.einsum("ij,...jhw->...ihw", self.crosstalk, x).clamp(0, 1)
        return self.black + (self.white - self.black) * mixed


class InkjetColourDistortion(_ColourDistortion):
    """rgb01 -> black + (white - black) * lab_to_rgb(L, R(hue) * chroma * (a, b)) of rgb ** dot_gain_gamma: plain-paper
    inkjet (see the module docstring for why these numbers)."""

    def __init__(self, dot_gain_gamma: float = 1.5, chroma: float = 0.6, hue_deg: float = 12.0,
                 black: float = 0.08, white: float = 0.92):
        super().__init__()
        self.dot_gain_gamma, self.chroma, self.hue_deg = float(dot_gain_gamma), float(chroma), float(hue_deg)
        self.black, self.white = float(black), float(white)
        c, s = math.cos(math.radians(hue_deg)), math.sin(math.radians(hue_deg))
        self.register_buffer("ab_map", chroma * torch.tensor([[c, -s], [s, c]], dtype=torch.float32))

    def forward(self, rgb01: torch.Tensor) -> torch.Tensor:
        if rgb01.ndim not in (3, 4) or rgb01.shape[-3] != 3:
            raise ValueError(f"InkjetColourDistortion wants (B,3,H,W) or (3,H,W), got {tuple(rgb01.shape)}")
        x = rgb01.clamp(0, 1) ** self.dot_gain_gamma
        lab = kornia.color.rgb_to_lab(x)
        L, ab = lab[..., :1, :, :], lab[..., 1:, :, :]
        ab = torch.einsum("ij,...jhw->...ihw", self.ab_map.to(ab.dtype), ab)
        rgb = kornia.color.lab_to_rgb(torch.cat([L, ab], dim=-3), clip=True)
        return self.black + (self.white - self.black) * rgb


DISTORTIONS = {"tonal": PrintColourDistortion, "inkjet": InkjetColourDistortion}


def photograph(image_rgb: np.ndarray, seed: int = 0, out_size=(1600, 1200), tilt: float = 0.12,
               blur_sigma: float = 1.0, noise_sigma: float = 0.015, jpeg_quality: int = 85,
               upside_down: bool = False, background=(70, 80, 90)) -> tuple[np.ndarray, np.ndarray]:
    """Place `image_rgb` (a rendered page) into a photo: a random perspective (corners moved by up to `tilt` of
    the page size), optical blur, sensor noise and JPEG. Returns (photo uint8 RGB, 3x3 page-px -> photo-px H)."""
    rng = np.random.default_rng(seed)
    h, w = image_rgb.shape[:2]
    W, H = out_size
    fit = 0.8 * min(W / w, H / h)
    cx, cy = W / 2, H / 2
    base = np.array([[cx - w * fit / 2, cy - h * fit / 2], [cx + w * fit / 2, cy - h * fit / 2],
                     [cx + w * fit / 2, cy + h * fit / 2], [cx - w * fit / 2, cy + h * fit / 2]])
    jitter = rng.uniform(-tilt, tilt, size=(4, 2)) * np.array([w * fit, h * fit]) / 2
    dst = base + jitter
    if upside_down:
        dst = dst[[2, 3, 0, 1]]
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64) - 0.5  # pixel corners, centres at integers
    Hm = cv2.getPerspectiveTransform(src.astype(np.float32), dst.astype(np.float32))
    photo = cv2.warpPerspective(image_rgb, Hm, (W, H), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_CONSTANT,
                                borderValue=tuple(int(v) for v in background))
    photo = photo.astype(np.float32) / 255.0
    if blur_sigma > 0:
        photo = cv2.GaussianBlur(photo, (0, 0), blur_sigma)
    photo = photo + rng.normal(0, noise_sigma, photo.shape).astype(np.float32)
    photo = (photo.clip(0, 1) * 255 + 0.5).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(photo, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    photo = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return photo, Hm
