"""The colour model: digital colour -> the colour a camera sees after printing, as a differentiable torch module.

Three kinds, all per-pixel maps of RGB in [0,1]:
- `affine`: out = A @ rgb + b
- `poly`: out = C^T phi(rgb), phi = all monomials of r, g, b up to `degree`
- `lut`: a G x G x G x 3 lattice, trilinearly interpolated (F.grid_sample)
Saved as JSON (readable, small) or safetensors (kind and degree in its metadata); never pickle.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import torch
import torch.nn.functional as F

from patchgen.atomic import atomic_save, atomic_write_json
from patchgen.errors import UserError

KINDS = ("affine", "poly", "lut")


def monomial_exponents(degree: int) -> list[tuple[int, int, int]]:
    """(er, eg, eb) for every monomial of total degree <= `degree`, constant first."""
    exps = []
    for d in range(degree + 1):
        for combo in itertools.combinations_with_replacement(range(3), d):
            exps.append(tuple(combo.count(ch) for ch in range(3)))
    return exps


def poly_features(rgb: torch.Tensor, degree: int) -> torch.Tensor:
    """(..., 3) -> (..., F) monomials."""
    exps = torch.tensor(monomial_exponents(degree), dtype=rgb.dtype, device=rgb.device)  # (F, 3)
    return torch.prod(rgb.unsqueeze(-2) ** exps, dim=-1)


class ColourModel(torch.nn.Module):
    def __init__(self, kind: str, params: torch.Tensor, degree: int = 0, info: dict | None = None):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"unknown colour-model kind {kind!r}; known: {', '.join(KINDS)}")
        self.kind, self.degree = kind, int(degree)
        self.info = dict(info or {})  # provenance and fit errors, saved alongside
        params = torch.as_tensor(params, dtype=torch.float32)
        expected = {"affine": (3, 4), "poly": (len(monomial_exponents(self.degree)), 3)}.get(kind)
        if kind == "lut" and not (params.ndim == 4 and params.shape[0] == 3 and
                                  params.shape[1] == params.shape[2] == params.shape[3] >= 2):
            raise ValueError(f"a lut colour model needs params of shape (3, G, G, G), got {tuple(params.shape)}")
        if expected and tuple(params.shape) != expected:
            raise ValueError(f"a {kind} colour model needs params of shape {expected}, got {tuple(params.shape)}")
        self.register_buffer("params", params)

    def map_colours(self, rgb: torch.Tensor) -> torch.Tensor:
        """(..., 3) -> (..., 3)."""
        p = self.params.to(rgb.dtype)
        if self.kind == "affine":
            out = rgb @ p[:, :3].T + p[:, 3]
        elif self.kind == "poly":
            out = poly_features(rgb, self.degree) @ p
        else:
            # grid_sample's (x, y, z) index (W, H, D): the lattice is stored [3, b, g, r], so x = r, y = g, z = b.
            flat = rgb.reshape(1, -1, 1, 1, 3) * 2 - 1
            out = F.grid_sample(p.unsqueeze(0), flat, mode="bilinear", padding_mode="border", align_corners=True)
            out = out.reshape(3, -1).T.reshape(rgb.shape)
        return out.clamp(0, 1)

    def forward(self, rgb01: torch.Tensor) -> torch.Tensor:
        """(B,3,H,W) or (3,H,W) in [0,1] -> same shape: the colours as printed and photographed."""
        if rgb01.ndim not in (3, 4) or rgb01.shape[-3] != 3:
            raise ValueError(f"ColourModel wants (B,3,H,W) or (3,H,W), got {tuple(rgb01.shape)}")
        moved = rgb01.clamp(0, 1).movedim(-3, -1)
        return self.map_colours(moved).movedim(-1, -3)

    def to_dict(self) -> dict:
        return {"artifact": "colour_model", "kind": self.kind, "degree": self.degree,
                "shape": list(self.params.shape), "params": self.params.flatten().tolist(), "info": self.info}

    def save(self, path) -> Path:
        path = Path(path)
        if path.suffix == ".safetensors":
            from safetensors.torch import save_file

            meta = {"artifact": "colour_model", "kind": self.kind, "degree": str(self.degree),
                    "info": json.dumps(self.info)}
            return atomic_save(path, lambda tmp: save_file({"params": self.params.detach().cpu().contiguous()}, tmp,
                                                            metadata=meta))
        return atomic_write_json(path, self.to_dict())

    def extra_repr(self) -> str:
        return f"kind={self.kind}, degree={self.degree}, params={tuple(self.params.shape)}"


def load_colour_model(path) -> ColourModel:
    """A model saved by `ColourModel.save` (.json or .safetensors); a missing or malformed file is a UserError."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"colour model {path} not found (make one with `patchgen calibrate fit PHOTO`)")
    try:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as handle:
                meta = handle.metadata() or {}
                params = handle.get_tensor("params")
            return ColourModel(meta["kind"], params, int(meta.get("degree", 0)), json.loads(meta.get("info", "{}")))
        data = json.loads(path.read_text())
        params = torch.tensor(data["params"], dtype=torch.float32).reshape(data["shape"])
        return ColourModel(data["kind"], params, int(data.get("degree", 0)), data.get("info", {}))
    except Exception as err:  # any parse failure of a user's file (safetensors raises its own type)
        raise UserError(f"{path} is not a colour model: {err}") from None
