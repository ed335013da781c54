"""A run's exports: the sidecars `patchgen export` writes into RUN/export (one per size and paper), read in this one
place, and the marker ids a new export gets.

Each export of a run gets marker ids no other export of that run uses, so a photo says by its markers which print
it shows (a 30 cm and an 8 cm print differ in marker size relative to the artifact: read with the wrong layout,
the artifact is placed tens of pixels off). Exports made before ids were handed out all use 0-3; `capture/`
tells those apart by how well each layout fits the markers it sees.

The ids (DICT_4X4_50 has 0-49): a patch export takes four, the lowest free from 0 up (EXPORT_MARKER_IDS); a
texture's sheet four and a sticker page two per piece, the first free of 46-49 then from 39 down
(SHEET_MARKER_IDS), so a sheet or sticker page and a patch print (of this run or, with fewer than ten exports,
any other) do not share ids; 40-45 are the calibration chart's (printing/chart.py).

A sidecar holds one marker layout (a patch's print, a texture's sheet: `marker_layout`) or, for a sticker page,
one per piece (`pieces[k].marker_layout`, millimetres from that piece's top-left corner): one ExportRecord each.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from patchgen import run_dir as run_files
from patchgen.errors import UserError

# DICT_4X4_50 has ids 0-49; calibration charts use 40-45 (printing/chart.py). Patch exports: ten per run, four
# markers each (TL, TR, BR, BL), from 0 up; sheets and sticker pages from the other end of the same pool.
EXPORT_MARKER_IDS = range(0, 40)
SHEET_MARKER_IDS = (46, 47, 48, 49, *range(39, -1, -1))
ALL_EXPORT_IDS = frozenset(SHEET_MARKER_IDS)
MARKERS_PER_EXPORT = 4


@dataclass(frozen=True)
class ExportRecord:
    name: str  # the sidecar's file stem: what `--export` takes
    path: Path  # the sidecar (.json)
    layout: dict  # the marker layout, millimetres from the artifact's top-left corner (printing/markers.py)
    size_mm: tuple  # (w, h) the printed artifact
    run: str | None  # the run it was made from, as recorded (resolved path)
    piece: int | None = None  # a sticker page's piece (its number, 1..K) whose layout this is; None: the whole print

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


def sidecar_layouts(sidecar) -> list[tuple[int | None, dict]]:
    """(piece number, layout) for every marker layout in an export sidecar: a sticker page's one per piece, any
    other print's one (piece None; found wherever the sidecar nests it); [] where there is none."""
    pieces = sidecar.get("pieces") if isinstance(sidecar, dict) else None
    if isinstance(pieces, list) and any(isinstance(p, dict) and p.get("marker_layout") for p in pieces):
        return [(p.get("number"), p.get("marker_layout")) for p in pieces if isinstance(p, dict)]
    layout = find_layout(sidecar)
    return [] if layout is None else [(None, layout)]


def read_export(path) -> list[ExportRecord]:
    """The export whose sidecar is `path`: one record per marker layout in it ([] for a JSON file with none)."""
    path = Path(path)
    sidecar = read_json(path)
    source = sidecar.get("source") if isinstance(sidecar, dict) else None
    records = []
    for piece, layout in sidecar_layouts(sidecar):
        try:
            w, h = (float(v) for v in layout["artifact_size_mm"])
            ids = [int(m["id"]) for m in layout["markers"]]
            piece = None if piece is None else int(piece)
        except (TypeError, ValueError, KeyError):
            raise UserError(f"{path}: its marker layout is damaged (artifact_size_mm or marker ids)") from None
        if not (w > 0 and h > 0) or not ids:
            raise UserError(f"{path}: its marker layout is damaged (artifact_size_mm or marker ids)")
        records.append(ExportRecord(name=path.stem, path=path, layout=layout, size_mm=(w, h),
                                    run=source.get("run") if isinstance(source, dict) else None, piece=piece))
    return records


def read_exports(folder) -> list[ExportRecord]:
    """Every export sidecar in `folder`, by name; [] when there is no such folder."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return [record for path in sorted(folder.glob("*.json")) for record in read_export(path)]


def allocate_marker_ids(run_dir, out_dir, stem: str, count: int = MARKERS_PER_EXPORT,
                        order=EXPORT_MARKER_IDS) -> tuple:
    """`count` marker ids for the export `stem` written into `out_dir`: the ids it already has when it replaces an
    export of that name with as many ids that nobody else uses, else the first ids in `order` no other export of
    the run uses (a patch's: EXPORT_MARKER_IDS; a sheet's or sticker page's: SHEET_MARKER_IDS).

    The run's other exports are those in RUN/export and, when `out_dir` is elsewhere, those there made from this
    run (a print from elsewhere must not be taken for one of the run's own)."""
    run_dir, out_dir = Path(run_dir).resolve(), Path(out_dir).resolve()
    own = run_dir / run_files.EXPORT
    records = read_exports(own)
    if out_dir != own:
        records += [r for r in read_exports(out_dir) if r.run == str(run_dir)]
    replaced = [r for r in records if r.path.parent.resolve() == out_dir and r.name == stem]
    others = [r for r in records if r not in replaced]
    taken = {i for r in others for i in r.marker_ids}
    kept = tuple(i for r in replaced for i in r.marker_ids)
    if len(kept) == count and len(set(kept)) == count and not taken & set(kept):
        return kept
    free = [i for i in order if i not in taken]
    if len(free) < count:
        names = ", ".join(sorted({r.name for r in others}))
        pool = "0-39" if tuple(order) == tuple(EXPORT_MARKER_IDS) else "46-49, then 39 down to 0"
        raise UserError(f"{run_dir.name}: this print needs {count} marker ids and its exports ({names}) leave "
                        f"{len(free)} free of those it draws from ({pool}; 40-45 are the calibration chart's): "
                        f"delete an export you no longer print (its .json, .pdf and .png in {own}), or re-export "
                        f"one of those sizes and papers to replace it")
    return tuple(free[:count])
