"""A texture's (or a camouflage's) print as the photos show it. `patchgen export` lays its tile out as a sheet of
repeats at the asked repeat, filling the paper (printing/texture_export.py), with four ArUco markers out from the
tiling's corners: capture finds the sheet by those (exact corners), and where they are out of view (or on a sheet
exported before sheets had markers) by its own image (capture/appearance.py), knowing that it repeats. A texture
never exported (a shirt printed from the tile elsewhere) is looked for as one repeat of unknown size: any repeat
in view will do."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from patchgen import registry, run_dir as run_files
from patchgen.errors import UserError
from printing.run_exports import read_export, read_json

TILING_EXPORTER = "printing.texture_export:export_texture"


def printed_as_tiling(kind: str) -> bool:
    """Whether `patchgen export` prints artifacts of this kind as a sheet of repeats of their tile."""
    plugin = registry.PLUGINS["artifact"].get(kind)
    return plugin is not None and plugin.exporter == TILING_EXPORTER


@dataclass(frozen=True)
class TilingPrint:
    name: str  # the sidecar's stem: what --export takes
    repeat_mm: float  # the side of one tile as printed
    pattern_mm: tuple  # (w, h) of the tiling on the sheet: whole tile pixels, so not always whole repeats
    # The sheet's marker layout as an export record (its frame: the tiling, pattern_mm); () for a sheet without.
    exports: tuple = ()


def read_tiling(path: Path, kind: str) -> TilingPrint | None:
    """The tiling export whose sidecar is `path`, or None for a JSON file that is not one of a `kind`."""
    sidecar = read_json(path)
    if not isinstance(sidecar, dict) or sidecar.get("artifact") != f"{kind} export":
        return None
    try:
        repeat = float(sidecar["repeat_mm"])
        w, h = (float(v) for v in sidecar["pdf"]["pattern_mm"])
    except (TypeError, ValueError, KeyError):
        raise UserError(f"{path}: its repeat_mm or pdf.pattern_mm is damaged") from None
    if not (repeat > 0 and w > 0 and h > 0):
        raise UserError(f"{path}: its repeat_mm or pdf.pattern_mm is damaged")
    return TilingPrint(name=path.stem, repeat_mm=repeat, pattern_mm=(w, h), exports=tuple(read_export(path)))


def choose_tiling(run_dir: Path, kind: str, export: str | None) -> TilingPrint | None:
    """The sheet the photos show: `export` (a name in RUN/export or a sidecar's path), else the run's one tiling
    (or several alike); None when the run has none. Sheets of different repeats or sizes need --export: the photos
    are scored against one sheet's image (and a sheet without markers shows nothing that says which it is)."""
    path = Path(export) if export else None
    if path is not None and path.suffix == ".json" and path.is_file():
        chosen = read_tiling(path, kind)
        if chosen is None:
            raise UserError(f"--export {export}: not a {kind} export's .json")
        return chosen
    folder = run_dir / run_files.EXPORT
    found = [t for t in (read_tiling(p, kind) for p in sorted(folder.glob("*.json"))) if t is not None] \
        if folder.is_dir() else []
    if path is not None:
        wanted = path.name[:-5] if path.name.endswith(".json") else path.name
        chosen = [t for t in found if t.name == wanted]
        if not chosen:
            known = ", ".join(t.name for t in found) or f"none: run `patchgen export {run_dir}` first"
            raise UserError(f"--export {export}: no such export in {folder} (its {kind} exports: {known})")
        return chosen[0]
    if len({(t.repeat_mm, t.pattern_mm) for t in found}) > 1:
        raise UserError(f"{run_dir.name} has {len(found)} {kind} exports of different repeats or sizes "
                        f"({', '.join(t.name for t in found)}): say which sheet the photos show with --export NAME")
    return found[0] if found else None


def sheet_image(tile_rgba: np.ndarray, tiling: TilingPrint) -> np.ndarray:
    """The sheet's tiling as an image at the tile's own pixels: the tile repeated, cut where the sheet ends."""
    side = tile_rgba.shape[0]
    pitch = tiling.repeat_mm / side
    cols, rows = (max(1, round(v / pitch)) for v in tiling.pattern_mm)
    return np.tile(tile_rgba, (-(-rows // side), -(-cols // side), 1))[:rows, :cols]
