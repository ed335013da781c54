"""A palette measured from a photo of the user's own printed calibration chart, instead of a fixed list.

The chart's cells, as photographed, are colours this printer (on this paper, under this light) really makes.
k-means in CIELAB groups them into K clusters, and each cluster is represented by its medoid: a colour that was
measured, not an average of several. Saved in the format `printing.palette.load_palette` reads.
"""

from __future__ import annotations

import datetime as _dt

import numpy as np
import torch

from patchgen.atomic import atomic_write_text
from printing.colour_difference import rgb_to_lab


def palette_from_colours(colours: np.ndarray, k: int = 30, seed: int = 0, iterations: int = 50) -> np.ndarray:
    """(N,3) RGB in [0,1] -> (k,3) RGB medoids of a k-means clustering in CIELAB (k-means++ start)."""
    colours = np.asarray(colours, dtype=np.float64)
    if not 1 <= k <= len(colours):
        raise ValueError(f"cannot pick {k} palette colours from {len(colours)} measured ones")
    lab = rgb_to_lab(torch.tensor(colours, dtype=torch.float32)).double().numpy()
    rng = np.random.default_rng(seed)
    centres = [lab[rng.integers(len(lab))]]
    for _ in range(1, k):  # k-means++: spread the starting centres over the measured gamut
        d2 = np.min(((lab[:, None] - np.array(centres)[None]) ** 2).sum(-1), axis=1)
        centres.append(lab[rng.choice(len(lab), p=d2 / d2.sum())] if d2.sum() > 0 else lab[rng.integers(len(lab))])
    centres = np.array(centres)
    for _ in range(iterations):
        assign = ((lab[:, None] - centres[None]) ** 2).sum(-1).argmin(1)
        moved = np.array([lab[assign == j].mean(0) if np.any(assign == j) else centres[j] for j in range(k)])
        if np.allclose(moved, centres):
            break
        centres = moved
    assign = ((lab[:, None] - centres[None]) ** 2).sum(-1).argmin(1)
    medoids = []
    for j in range(k):
        members = np.flatnonzero(assign == j)
        if members.size == 0:
            members = np.arange(len(lab))
        medoids.append(members[((lab[members] - centres[j]) ** 2).sum(-1).argmin()])
    picked = colours[np.array(medoids)]
    return picked[np.lexsort(picked.T[::-1])]  # stable order: by r, then g, then b


def palette_text(colours: np.ndarray, provenance: str) -> str:
    lines = [f"# patchgen palette: {len(colours)} RGB colours (0-1) measured from a printed calibration chart.",
             f"# Provenance: {provenance}",
             f"# Made {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC by `patchgen calibrate palette`.",
             "# r g b"]
    lines += [f"{r:.4f} {g:.4f} {b:.4f}" for r, g, b in np.clip(colours, 0, 1)]
    return "\n".join(lines) + "\n"


def save_palette(path, colours: np.ndarray, provenance: str):
    return atomic_write_text(path, palette_text(colours, provenance))
