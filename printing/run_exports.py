"""A run's exports: the sidecars `patchgen export` writes into RUN/export (one per size and paper), read in this one
place, and the marker ids a new export gets.

Each export of a run gets marker ids no other export of that run uses, so a photo says by its markers which print
it shows (a 30 cm and an 8 cm print differ in marker size relative to the artifact: read with the wrong layout,
the artifact is placed tens of pixels off). Exports made before ids were handed out all use 0-3; `capture/`
tells those apart by how well each layout fits the markers it sees.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from patchgen import run_dir as run_files
from patchgen.errors import UserError

# DICT_4X4_50 has ids 0-49; calibration charts use 40-45 (printing/chart.py), so exports keep to 0-39: ten exports
# per run, four markers each (TL, TR, BR, BL).
EXPORT_MARKER_IDS = range(0, 40)
MARKERS_PER_EXPORT = 4


@dataclass(frozen=True)
class ExportRecord:
    name: str  # the sidecar's file stem: what `--export` takes
    path: Path  # the sidecar (.json)
    layout: dict  # the marker layout, millimetres from the artifact's top-left corner (printing/markers.py)
    size_mm: tuple  # (w, h) the printed artifact
    run: str | None  # the run it was made from, as recorded (resolved path)

    @property
    def marker_ids(self) -> tuple:
        return tuple(int(m["id"]) for m in self.layout["markers"])


def read_json(path) -> dict:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"{path}: not readable JSON ({err.__class__.__name__})") from None


def find_layout(obj):
    """The first dict inside a sidecar that looks like a marker layout (the export sidecar nests it)."""
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


def read_export(path) -> ExportRecord | None:
    """The export whose sidecar is `path`, or None for a JSON file that holds no marker layout."""
    path = Path(path)
    sidecar = read_json(path)
    layout = find_layout(sidecar)
    if layout is None:
        return None
    try:
        w, h = (float(v) for v in layout["artifact_size_mm"])
        ids = [int(m["id"]) for m in layout["markers"]]
    except (TypeError, ValueError, KeyError):
        raise UserError(f"{path}: its marker layout is damaged (artifact_size_mm or marker ids)") from None
    if not (w > 0 and h > 0) or not ids:
        raise UserError(f"{path}: its marker layout is damaged (artifact_size_mm or marker ids)")
    source = sidecar.get("source") if isinstance(sidecar, dict) else None
    return ExportRecord(name=path.stem, path=path, layout=layout, size_mm=(w, h),
                        run=source.get("run") if isinstance(source, dict) else None)


def read_exports(folder) -> list[ExportRecord]:
    """Every export sidecar in `folder`, by name; [] when there is no such folder."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = (read_export(path) for path in sorted(folder.glob("*.json")))
    return [record for record in found if record is not None]


def allocate_marker_ids(run_dir, out_dir, stem: str) -> tuple:
    """Marker ids for the export `stem` written into `out_dir`: the ids it already has when it replaces an export
    of that name whose ids nobody else uses, else the lowest ids no other export of the run uses.

    The run's other exports are those in RUN/export and, when `out_dir` is elsewhere, those there made from this
    run (a print from elsewhere must not be taken for one of the run's own)."""
    run_dir, out_dir = Path(run_dir).resolve(), Path(out_dir).resolve()
    own = run_dir / run_files.EXPORT
    records = read_exports(own)
    if out_dir != own:
        records += [r for r in read_exports(out_dir) if r.run == str(run_dir)]
    replaced = next((r for r in records if r.path.parent.resolve() == out_dir and r.name == stem), None)
    others = [r for r in records if r is not replaced]
    taken = {i for r in others for i in r.marker_ids}
    if replaced is not None and len(replaced.marker_ids) == MARKERS_PER_EXPORT and not taken & set(replaced.marker_ids):
        return replaced.marker_ids
    free = [i for i in EXPORT_MARKER_IDS if i not in taken]
    if len(free) < MARKERS_PER_EXPORT:
        names = ", ".join(r.name for r in others)
        raise UserError(f"{run_dir.name}: its exports ({names}) use up the {len(EXPORT_MARKER_IDS)} export marker ids "
                        f"({EXPORT_MARKER_IDS[0]}-{EXPORT_MARKER_IDS[-1]}; ids 40+ are the calibration chart's): "
                        f"delete an export you no longer print (its .json, .pdf and .png in {own}), or re-export one "
                        f"of those sizes and papers to replace it")
    return tuple(free[:MARKERS_PER_EXPORT])
