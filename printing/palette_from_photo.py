"""A palette of colours that occur in a photo: of the user's own printed calibration chart (instead of a fixed
list), or a camouflage's reference photo of the place it is worn in.

The chart's cells, as photographed, are colours this printer (on this paper, under this light) really makes.
k-means in CIELAB groups them into K clusters, and each cluster is represented by its medoid: a colour that was
measured, not an average of several. Saved in the format `printing.palette.load_palette` reads.
"""

from __future__ import annotations

import datetime as _dt

import numpy as np
from skimage.color import deltaE_ciede2000, rgb2lab

from patchgen.atomic import atomic_write_text
from patchgen.errors import UserError
from patchgen.image_io import read_image

PHOTO_PX = 128  # a reference photo is read at this size: its colours, not its detail, make the palette
DISTINCT_DE2000 = 1.0  # two colours closer than this (CIEDE2000 1: a just-noticeable difference) are one colour


def reference_palette(path, colours: int) -> np.ndarray:
    """(colours,3) RGB in [0,1] that occur in the photo at path, picked by k-means in CIELAB (cluster medoids); a
    UserError when the photo has fewer distinct colours than that (a palette of duplicates would be trained and
    printed). It needs no torch and no model: the config check calls it before either loads."""
    import cv2

    rgb = read_image(path)
    scale = PHOTO_PX / max(rgb.shape[:2])
    if scale < 1:
        rgb = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    pixels = rgb.reshape(-1, 3).astype(np.float64) / 255
    picked = palette_from_colours(pixels, colours) if len(pixels) >= colours else np.unique(pixels, axis=0)
    distinct = distinct_colours(picked)
    if distinct < colours:
        fix = f"lower artifact.colours to {distinct} or use" if distinct >= 2 else "use"
        raise UserError(f"reference photo {path} has only {distinct} distinct colour{'s' * (distinct != 1)} "
                        f"(CIEDE2000 {DISTINCT_DE2000:g} or more apart) for artifact.colours = {colours}: {fix} a "
                        f"photo with more colours")
    return picked


def distinct_colours(colours: np.ndarray) -> int:
    """How many of these (N,3) RGB colours in [0,1] are at least DISTINCT_DE2000 from every one kept before."""
    kept: list[np.ndarray] = []
    for lab in rgb2lab(np.asarray(colours, np.float64)):
        if not kept or float(deltaE_ciede2000(lab[None], np.stack(kept)).min()) >= DISTINCT_DE2000:
            kept.append(lab)
    return len(kept)


def palette_from_colours(colours: np.ndarray, k: int = 30, seed: int = 0, attempts: int = 5) -> np.ndarray:
    """(N,3) RGB in [0,1] -> (k,3) RGB medoids of a k-means clustering in CIELAB (OpenCV's, k-means++ starts, the
    most compact of `attempts` runs; seeded, so a photo gives the same palette every time)."""
    import cv2

    colours = np.asarray(colours, dtype=np.float64)
    if not 1 <= k <= len(colours):
        raise ValueError(f"cannot pick {k} palette colours from {len(colours)} measured ones")
    lab = rgb2lab(colours).astype(np.float32)  # cv2.kmeans takes float32
    cv2.setRNGSeed(seed)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 100, 1e-4)
    _, assign, centres = cv2.kmeans(lab, k, None, criteria, attempts, cv2.KMEANS_PP_CENTERS)
    assign = assign.ravel()
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
