"""What `capture/` needs from a run directory: the digital artifact, its physical size, the marker layouts of its
exports (a run may hold several: one per size and paper), and the attack it was trained for (victim, target
class, objective)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from patchgen.errors import UserError
from patchgen.image_io import read_image
from printing.run_exports import ExportRecord, read_export, read_exports, read_json

OBJECTIVES = ("vanish", "mislabel", "appear")


@dataclass
class RunArtifact:
    image_rgba: np.ndarray  # (H,W,4) uint8; alpha is the shape mask
    size_mm: tuple  # (w, h) mm: the artifact frame every homography starts from (see export_to_artifact)
    exports: tuple  # ExportRecord per export the photos may show (printing/run_exports.py); () if never exported
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

    def export_to_artifact(self, export: ExportRecord) -> np.ndarray:
        """3x3: an export's millimetres -> the artifact frame. Prints of one artifact differ only in scale (export
        keeps the aspect ratio), so one frame serves them all and rectification never needs to know which."""
        return np.diag([self.size_mm[0] / export.size_mm[0], self.size_mm[1] / export.size_mm[1], 1.0])


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


def choose_exports(run_dir: Path, export: str | None) -> tuple:
    """Every export in RUN/export, or only `export`: a name there (with or without .json) or a sidecar's path
    (a print exported with --out elsewhere)."""
    if export is None:
        return tuple(read_exports(run_dir / "export"))
    path = Path(export)
    if path.suffix == ".json" and path.is_file():
        record = read_export(path)
        if record is None:
            raise UserError(f"--export {export}: no marker layout in this file (is it an export's .json?)")
        return (record,)
    records = read_exports(run_dir / "export")
    wanted = path.name[:-5] if path.name.endswith(".json") else path.name
    chosen = [r for r in records if r.name == wanted]
    if not chosen:
        known = ", ".join(r.name for r in records) or "none: run `patchgen export` first"
        raise UserError(f"--export {export}: no such export in {run_dir / 'export'} (its exports: {known})")
    return tuple(chosen)


def load_run(run_dir, export: str | None = None) -> RunArtifact:
    """Read RUN/patch.png, RUN/patch.json and the marker layouts of its exports (all of RUN/export, or `export`)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such run directory")
    png = run_dir / "patch.png"
    if not png.is_file():
        raise UserError(f"{run_dir}: no patch.png (is this a run directory from `patchgen train`?)")
    rgba = read_image(png, keep_alpha=True)
    sidecar = read_json(run_dir / "patch.json") if (run_dir / "patch.json").is_file() else {}

    exports = choose_exports(run_dir, export)
    size = exports[0].size_mm if exports else _size_pair(sidecar.get("physical_size_mm"))
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
    return RunArtifact(image_rgba=rgba, size_mm=size, exports=exports, victim=victim,
                       target_class="/".join(targets), objective=objective, run_dir=run_dir, sidecar=sidecar,
                       size_known=size_known, target_classes=targets)
