"""Fit a colour model to (digital, captured) cell pairs and pick its kind by held-out error.

Candidates range from rigid to flexible: affine, polynomials of degree 2 and 3 (ridge), and smoothed 3-D LUTs
(a Laplacian penalty keeps lattice nodes with no nearby cell sensible). The kind is chosen by k-fold
cross-validation on the fit cells only, in CIEDE2000; the chart's held-out cells are then used once, to report
the error of the chosen model, which is the model saved.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch
from skimage.color import deltaE_ciede2000, rgb2lab

from printing.colour_model import ColourModel, monomial_exponents

# (name, kind, degree or lattice size, regulariser)
CANDIDATES = (
    ("affine", "affine", 0, 0.0),
    ("poly2", "poly", 2, 1e-5),
    ("poly3", "poly", 3, 1e-4),
    ("lut5", "lut", 5, 1e-2),
    ("lut9", "lut", 9, 3e-2),
)


@dataclass(frozen=True)
class FitReport:
    model: ColourModel
    chosen: str
    cv_de2000: dict  # candidate name -> mean CIEDE2000 over the folds
    heldout_de2000_mean: float
    heldout_de2000_max: float
    fit_de2000_mean: float
    identity_heldout_de2000_mean: float  # how far off the print is if no model is used


def _poly_design(rgb: np.ndarray, degree: int) -> np.ndarray:
    exps = np.array(monomial_exponents(degree))
    return np.prod(rgb[:, None, :] ** exps[None], axis=-1)


def _trilinear_weights(rgb: np.ndarray, g: int) -> np.ndarray:
    """(N, g^3) interpolation weights over the lattice, node index = (b * g + g_) * g + r, matching [3, b, g, r]."""
    pos = np.clip(rgb, 0, 1) * (g - 1)
    lo = np.minimum(np.floor(pos).astype(int), g - 2)
    frac = pos - lo
    W = np.zeros((len(rgb), g ** 3))
    for corner in itertools.product((0, 1), repeat=3):
        idx = lo + np.array(corner)
        w = np.prod(np.where(np.array(corner) == 1, frac, 1 - frac), axis=1)
        np.add.at(W, (np.arange(len(rgb)), (idx[:, 2] * g + idx[:, 1]) * g + idx[:, 0]), w)
    return W


def _laplacian(g: int) -> np.ndarray:
    """Second differences along each lattice axis: zero for any affine map, so smoothing never bends those."""
    rows = []
    n = g ** 3

    def node(r, gg, b):
        return (b * g + gg) * g + r

    for r in range(g):
        for gg in range(g):
            for b in range(g):
                for axis in range(3):
                    p = [r, gg, b]
                    if 0 < p[axis] < g - 1:
                        row = np.zeros(n)
                        lo, hi = list(p), list(p)
                        lo[axis] -= 1
                        hi[axis] += 1
                        row[node(*p)] = -2
                        row[node(*lo)] = 1
                        row[node(*hi)] = 1
                        rows.append(row)
    return np.array(rows)


def fit_kind(digital: np.ndarray, captured: np.ndarray, kind: str, size: int, reg: float) -> ColourModel:
    x, y = np.asarray(digital, np.float64), np.asarray(captured, np.float64)
    if kind == "affine":
        X = np.concatenate([x, np.ones((len(x), 1))], 1)
        coef, *_ = np.linalg.lstsq(X, y, rcond=None)  # (4, 3)
        return ColourModel("affine", torch.tensor(coef.T, dtype=torch.float32))
    if kind == "poly":
        X = _poly_design(x, size)
        A = X.T @ X + reg * len(x) * np.eye(X.shape[1])
        coef = np.linalg.solve(A, X.T @ y)
        return ColourModel("poly", torch.tensor(coef, dtype=torch.float32), degree=size)
    W = _trilinear_weights(x, size)
    L = _laplacian(size)
    # Both terms are means (per cell, per second difference), so `reg` means the same for any chart or lattice.
    A = W.T @ W / len(x) + reg * (L.T @ L) / len(L) + 1e-9 * np.eye(size ** 3)
    nodes = np.linalg.solve(A, W.T @ y / len(x))  # (g^3, 3)
    lut = torch.tensor(nodes.T.reshape(3, size, size, size), dtype=torch.float32)
    return ColourModel("lut", lut, degree=size)


def delta_e2000_rgb(rgb1: np.ndarray, rgb2: np.ndarray) -> np.ndarray:
    """CIEDE2000 between (N,3) sRGB colours, each clipped to [0,1] first: a model may predict a colour no print
    can have, and it is scored as the nearest one that can be."""
    return deltaE_ciede2000(rgb2lab(np.clip(rgb1, 0, 1)), rgb2lab(np.clip(rgb2, 0, 1)))


def mean_de2000(model: ColourModel, digital: np.ndarray, captured: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        pred = model.map_colours(torch.tensor(digital, dtype=torch.float32))
    return delta_e2000_rgb(pred.double().numpy(), np.asarray(captured, np.float64))


def _folds(n: int, k: int) -> list[np.ndarray]:
    order = np.random.default_rng(0).permutation(n)
    return [order[i::k] for i in range(k)]


def fit_colour_model(digital: np.ndarray, captured: np.ndarray, heldout: np.ndarray, folds: int = 5,
                     candidates=CANDIDATES) -> FitReport:
    digital, captured, heldout = np.asarray(digital), np.asarray(captured), np.asarray(heldout, bool)
    fx, fy = digital[~heldout], captured[~heldout]
    hx, hy = digital[heldout], captured[heldout]
    if len(fx) < 30 or len(hx) < 5:
        raise ValueError(f"too few cells to fit ({len(fx)}) or check ({len(hx)}) a colour model")
    cv = {}
    for name, kind, size, reg in candidates:
        errors = []
        for fold in _folds(len(fx), folds):
            train = np.ones(len(fx), bool)
            train[fold] = False
            errors.append(mean_de2000(fit_kind(fx[train], fy[train], kind, size, reg), fx[fold], fy[fold]))
        cv[name] = float(np.concatenate(errors).mean())
    chosen = min(cv, key=cv.get)
    _, kind, size, reg = next(c for c in candidates if c[0] == chosen)
    model = fit_kind(fx, fy, kind, size, reg)
    held = mean_de2000(model, hx, hy)
    identity = delta_e2000_rgb(hx, hy)
    report = FitReport(model, chosen, cv, float(held.mean()), float(held.max()),
                       float(mean_de2000(model, fx, fy).mean()), float(identity.mean()))
    model.info.update({"chosen": chosen, "cv_de2000": cv, "heldout_de2000_mean": report.heldout_de2000_mean,
                       "heldout_de2000_max": report.heldout_de2000_max, "fit_cells": int(len(fx)),
                       "heldout_cells": int(len(hx)),
                       "identity_heldout_de2000_mean": report.identity_heldout_de2000_mean})
    return report
