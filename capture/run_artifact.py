"""What `capture/` needs from a run directory: the digital artifact, its physical size, its marker layout, and
the attack it was trained for (victim, target class, objective)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from patchgen.errors import UserError
from patchgen.image_io import read_image

OBJECTIVES = ("vanish", "mislabel", "appear")


@dataclass
class RunArtifact:
    image_rgba: np.ndarray  # (H,W,4) uint8; alpha is the shape mask
    size_mm: tuple  # (w, h) physical size; the artifact frame all homographies start from
    layout: dict | None  # marker layout from the export sidecar, None if the run was never exported
    victim: str | None
    target_class: str  # for display: the target class, or several joined by "/"
    objective: str
    run_dir: Path | None = None
    sidecar: dict = field(default_factory=dict)
    size_known: bool = True  # False: no physical size anywhere, 1 mm per pixel assumed
    target_classes: tuple = ()  # every class the attack targets (a run may target several, e.g. two face classes)

    @property
    def rgb(self) -> np.ndarray:
        return self.image_rgba[:, :, :3]

    @property
    def mask(self) -> np.ndarray:
        return self.image_rgba[:, :, 3] > 127

    @property
    def px_per_mm(self) -> float:
        return self.image_rgba.shape[1] / float(self.size_mm[0])

    def mm_to_pixels(self) -> np.ndarray:
        """3x3: artifact mm -> pixel centres of the digital image (edge of pixel 0 at -0.5)."""
        sx = self.image_rgba.shape[1] / float(self.size_mm[0])
        sy = self.image_rgba.shape[0] / float(self.size_mm[1])
        return np.array([[sx, 0, -0.5], [0, sy, -0.5], [0, 0, 1]], dtype=np.float64)

    def corners_mm(self) -> np.ndarray:
        w, h = self.size_mm
        return np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64)


def find_layout(obj):
    """The first dict inside a sidecar that looks like a marker layout (the export sidecar may nest it)."""
    if isinstance(obj, dict):
        if "markers" in obj and "artifact_size_mm" in obj and isinstance(obj["markers"], list):
            return obj
        values = obj.values()
    elif isinstance(obj, list):
        values = obj
    else:
        return None
    for value in values:
        found = find_layout(value)
        if found is not None:
            return found
    return None


def _size_pair(value):
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return (float(value), float(value))
    if isinstance(value, dict):
        value = [value.get("w", value.get("width")), value.get("h", value.get("height"))]
    try:
        w, h = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return (w, h) if w > 0 and h > 0 else None


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise UserError(f"{path}: not readable JSON ({err.__class__.__name__})") from None


def load_run(run_dir) -> RunArtifact:
    """Read RUN/patch.png, RUN/patch.json and (if `patchgen export` ran) the layout in RUN/export/*.json."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such run directory")
    png = run_dir / "patch.png"
    if not png.is_file():
        raise UserError(f"{run_dir}: no patch.png (is this a run directory from `patchgen train`?)")
    rgba = read_image(png, keep_alpha=True)
    sidecar = _read_json(run_dir / "patch.json") if (run_dir / "patch.json").is_file() else {}

    layout = None
    export_dir = run_dir / "export"
    if export_dir.is_dir():
        for candidate in sorted(export_dir.glob("*.json")):
            layout = find_layout(_read_json(candidate))
            if layout is not None:
                break
    size = _size_pair(layout["artifact_size_mm"]) if layout else None
    size = size or _size_pair(sidecar.get("physical_size_mm"))
    size_known = size is not None
    if size is None:
        size = (float(rgba.shape[1]), float(rgba.shape[0]))

    objective = str(sidecar.get("objective", "vanish"))
    if objective not in OBJECTIVES:
        raise UserError(f"{run_dir}/patch.json: objective {objective!r} is not one of {', '.join(OBJECTIVES)}")
    victim = sidecar.get("victim")
    if isinstance(victim, dict):
        victim = victim.get("name") or victim.get("path")
    targets = sidecar.get("target_classes") or sidecar.get("target_class") or "person"
    targets = tuple(str(t) for t in (targets if isinstance(targets, list) else [targets]) if t is not None)
    return RunArtifact(image_rgba=rgba, size_mm=size, layout=layout, victim=victim,
                       target_class="/".join(targets), objective=objective, run_dir=run_dir, sidecar=sidecar,
                       size_known=size_known, target_classes=targets)
