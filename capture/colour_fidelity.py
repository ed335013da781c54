"""How faithfully the printout's colours came back through printer, light and camera: CIEDE2000 ΔE between the
rectified photo of the artifact and the digital artifact."""

from __future__ import annotations

import cv2
import numpy as np
from skimage.color import deltaE_ciede2000, rgb2lab

# Both images are averaged down to this many cells on the long side before comparing: colour is what is
# measured, not sharpness, and a pixel of misregistration or blur must not read as a colour error.
CELLS = 32


def _cells(rgb: np.ndarray, size) -> np.ndarray:
    return cv2.resize(rgb.astype(np.float32) / 255.0, size, interpolation=cv2.INTER_AREA)


def structure_correlation(rectified_rgb: np.ndarray, digital_rgb: np.ndarray, mask=None, cells: int = 64):
    """Normalised cross-correlation of the two images' luminance on a coarse grid: near 1 when the thing found is
    this artifact, near 0 when it is something else (a different print, the wrong run). None for a flat artifact."""
    h, w = digital_rgb.shape[:2]
    scale = cells / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    a = cv2.cvtColor(_cells(rectified_rgb, size), cv2.COLOR_RGB2GRAY)
    b = cv2.cvtColor(_cells(digital_rgb, size), cv2.COLOR_RGB2GRAY)
    keep = np.ones(a.shape, bool) if mask is None else \
        cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0.95
    a, b = a[keep] - a[keep].mean(), b[keep] - b[keep].mean()
    if keep.sum() < 16 or b.std() < 1e-3:
        return None
    return round(float((a * b).sum() / (np.sqrt((a * a).sum() * (b * b).sum()) + 1e-12)), 4)


def colour_fidelity(rectified_rgb: np.ndarray, digital_rgb: np.ndarray, mask: np.ndarray | None = None) -> dict:
    """Mean, median and 95th-percentile ΔE2000 over the artifact's shape, and the mean ΔE after removing one
    global per-channel gain (what is left once exposure and white balance are factored out)."""
    h, w = digital_rgb.shape[:2]
    scale = CELLS / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    photo, digital = _cells(rectified_rgb, size), _cells(digital_rgb, size)
    if mask is None:
        keep = np.ones(size[::-1], dtype=bool)
    else:
        # A cell counts only if the artifact covers nearly all of it (no paper or background mixed in).
        keep = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0.95
    if not keep.any():
        return {"structure_correlation": None, "delta_e_mean": None, "delta_e_median": None, "delta_e_p95": None,
                "delta_e_mean_gain_corrected": None, "channel_gain": None}
    delta = deltaE_ciede2000(rgb2lab(digital), rgb2lab(photo))[keep]
    gain = (digital[keep].mean(axis=0) + 1e-6) / (photo[keep].mean(axis=0) + 1e-6)
    corrected = np.clip(photo * gain[None, None, :], 0, 1)
    delta_corrected = deltaE_ciede2000(rgb2lab(digital), rgb2lab(corrected))[keep]
    return {"structure_correlation": structure_correlation(rectified_rgb, digital_rgb, mask),
            "delta_e_mean": round(float(delta.mean()), 3), "delta_e_median": round(float(np.median(delta)), 3),
            "delta_e_p95": round(float(np.percentile(delta, 95)), 3),
            "delta_e_mean_gain_corrected": round(float(delta_corrected.mean()), 3),
            "channel_gain": [round(float(g), 4) for g in gain]}
