"""The artifact's own detail: what a look-alike of the same outline in the same mean colours does not have.

An adversarial stop sign and a clean one share the red octagon, the white rim and the paper around them; the
octagon's edges hold most of either print's contrast, so the whole print correlates with the clean sign at about
0.9, over the locator's bar. What only the artifact has is what it holds inside its plain paint: the trained
pattern. So the print is split into its outline (plain paint, and the edges and thin rims between plain areas)
and the rest, its *detail*; a place is the artifact only where the photo correlates with the print on the detail
too, each connected piece of it measured from its own mean (a plain copy in the pieces' mean colours scores ~0).

A trained patch or a texture is detail almost everywhere, so the check is then the whole print's correlation again;
a print with under MIN_DETAIL_SHARE of detail (a plain logo, a flat colour chart) has nothing of its own to check."""

from __future__ import annotations

import cv2
import numpy as np

# Plain paint is told at this side of the print (px): a pixel is plain where its FLAT_WINDOW neighbourhood varies
# by under FLAT_STD levels of 255 (a digital uniform colour is exact; a JPEG of one varies by about 1).
FLAT_SIDE, FLAT_WINDOW, FLAT_STD = 128, 3, 1.5
# The outline's edges and thin rims are not plain either, but they are lines: what stays of the varying pixels
# once every band narrower than 2 * LINE_PX + 1 (px at FLAT_SIDE) is opened away is the detail.
LINE_PX = 4
# The detail is kept this far (px at FLAT_SIDE) from the outline: blur and a slight misfit spread its edges into
# their neighbours, where a look-alike would correlate as well as the artifact.
BOUNDARY_PX = 2
# Under this share of the print in detail, it has none of its own to check.
MIN_DETAIL_SHARE = 0.05


def detail_mask(rgba: np.ndarray) -> np.ndarray | None:
    """(FLAT_SIDE-scaled) bool mask of the print's detail, or None where it has too little to check."""
    h, w = rgba.shape[:2]
    k = FLAT_SIDE / max(h, w)
    size = (max(8, round(w * k)), max(8, round(h * k)))
    image = cv2.resize(rgba[:, :, :3], size, interpolation=cv2.INTER_AREA).astype(np.float32)
    shape = cv2.resize(rgba[:, :, 3], size, interpolation=cv2.INTER_NEAREST) > 127
    box = (FLAT_WINDOW, FLAT_WINDOW)
    variance = (cv2.blur(image * image, box) - cv2.blur(image, box) ** 2).clip(0).max(axis=2)
    varying = ((variance >= FLAT_STD ** 2) & shape).astype(np.uint8)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * LINE_PX + 1,) * 2)
    blobs = cv2.morphologyEx(varying, cv2.MORPH_OPEN, disc, borderType=cv2.BORDER_REPLICATE)
    detail = cv2.erode(blobs, np.ones((2 * BOUNDARY_PX + 1,) * 2, np.uint8), borderType=cv2.BORDER_REPLICATE) > 0
    return detail if detail.mean() >= MIN_DETAIL_SHARE else None


def detail_pieces(detail: np.ndarray, fit_mask: np.ndarray) -> tuple[np.ndarray, int]:
    """(labels of the detail's connected pieces at the size of `fit_mask`, 0 outside; how many labels)."""
    size = (fit_mask.shape[1], fit_mask.shape[0])
    inside = (cv2.resize(detail.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0) & (fit_mask > 0)
    count, labels = cv2.connectedComponents(inside.astype(np.uint8), connectivity=8)
    return labels, count


def detail_correlation(template: np.ndarray, back: np.ndarray, labels: np.ndarray, count: int) -> float:
    """Correlation of the print `template` with the photo pulled back onto it (`back`, same size) over the detail's
    pieces, each from its own mean colour: what a plain copy of the outline cannot score."""
    inside = labels > 0
    piece = labels[inside]
    sizes = np.bincount(piece, minlength=count)
    keep = sizes[piece] >= 4  # a piece of a few pixels has no pattern of its own
    if not keep.any():
        return 0.0
    centred = []
    for image in (template, back):
        values = image[inside].astype(np.float64)
        means = np.stack([np.bincount(piece, weights=values[:, c], minlength=count) for c in range(values.shape[1])],
                         axis=1) / np.maximum(sizes, 1)[:, None]
        centred.append((values - means[piece])[keep])
    t, b = centred
    return float((t * b).sum() / np.sqrt((t * t).sum() * (b * b).sum() + 1e-12))
