"""`patchgen export RUN`: the run's artifact as a print-ready PDF (and PNG) at exact physical size, with the
marker layout and physical size in a sidecar JSON. An export into the run's own RUN/export is the run's record:
its size goes into the run's artifact sidecar (patchgen.run_dir) too; one written elsewhere (`--out`) leaves the
run as it is.

Every argument and every limit (size, paper, pages, PNG pixels, marker ids) is checked, and the PDF and PNG are
rendered in memory, before any file is written: a refused export leaves nothing behind."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from patchgen import run_dir as run_files
from patchgen.atomic import atomic_write_bytes, atomic_write_json
from patchgen.errors import UserError, require_file, require_folder
from patchgen.image_io import read_image
from printing.export_sheet import build_export_sheet
from printing.pdf_render import pdf_bytes
from printing.physical_size import mm_to_px, paper_name, paper_size_mm, parse_size_mm
from printing.raster_render import raster_size, render_raster
from printing.run_exports import allocate_marker_ids
from printing.tiling import alignment_marks, mark_centres, plan_pages

MIN_DPI, MAX_DPI = 72, 1200
# More pages than this is refused unless asked for (--max-pages): a 1.2 m print on A4 is about 35 pages, a size
# typed in the wrong unit is thousands.
DEFAULT_MAX_PAGES = 50


@dataclass(frozen=True)
class ExportResult:
    pdf: Path
    png: Path | None
    sidecar: Path
    size_mm: tuple[float, float]
    pages: int
    marker_ids: tuple
    dpi: int

    def summary(self) -> list[str]:
        """What `patchgen export` prints: one line per file written."""
        w, h = self.size_mm
        pages = f"{self.pages} pages (tiled)" if self.pages > 1 else "1 page"
        ids = ", ".join(str(i) for i in self.marker_ids)
        return ([f"wrote {self.pdf} ({w:.1f} x {h:.1f} mm, {pages})"]
                + ([f"wrote {self.png} ({self.dpi} dpi)"] if self.png else [])
                + [f"wrote {self.sidecar} (marker layout with ids {ids}, and physical size)"])


def on_paper(rgba: np.ndarray) -> np.ndarray:
    """(H, W, 4) uint8 RGBA -> (H, W, 3) uint8 RGB as printed: transparent pixels are unprinted white paper."""
    rgba = rgba.astype(np.float32) / 255.0
    alpha = rgba[:, :, 3:4]
    rgb = rgba[:, :, :3] * alpha + (1.0 - alpha)
    return (rgb * 255 + 0.5).astype(np.uint8)


def read_run_artifact(run_dir) -> tuple[np.ndarray, dict]:
    """The run's artifact image as printed (on_paper), and its sidecar (patchgen.run_dir)."""
    run_dir = require_folder(run_dir, "run directory")
    sidecar = run_files.read_sidecar(run_dir)  # needed for the caption and the size record
    png = require_file(run_dir / run_files.ARTIFACT_PNG, "artifact image")
    return on_paper(read_image(png, keep_alpha=True)), sidecar


def caption_for(run_dir: Path, meta: dict, w: float, h: float) -> list[str]:
    """Caption parts: run, size, then run_facts."""
    return [f"patchgen run {run_dir.resolve().name}", f"{w:.1f} x {h:.1f} mm", *run_facts(meta)]


def run_facts(meta: dict) -> list[str]:
    """Caption parts every print of a run carries: victim (its file name, not a long path), targets, goal and its
    class, step; whichever the sidecar has."""
    facts = {"victim": Path(str(meta["victim"])).name if meta.get("victim") else None,
             "target": ", ".join(meta.get("target_classes") or []), "goal": meta.get("goal"),
             "goal class": meta.get("goal_class"), "step": meta.get("step")}
    return [f"{label} {value}" for label, value in facts.items() if value not in (None, "")]


def export_source(run_dir: Path, meta: dict, image=run_files.ARTIFACT_PNG) -> dict:
    """What an export's sidecar records of the run it was made from; `image`: the run file(s) it prints."""
    return {"run": str(run_dir.resolve()), "image": image, "artifact": meta.get("artifact", "patch"),
            "victim": meta.get("victim"), "target_classes": meta.get("target_classes"), "goal": meta.get("goal"),
            "goal_class": meta.get("goal_class"), "step": meta.get("step")}


def check_dpi_and_max_pages(dpi: int, max_pages: int) -> None:
    """The options every kind's export takes, checked before it reads the run."""
    if not MIN_DPI <= int(dpi) <= MAX_DPI:
        raise UserError(f"--dpi {dpi} is outside {MIN_DPI}..{MAX_DPI}")
    if int(max_pages) < 1:
        raise UserError(f"--max-pages must be >= 1, got {max_pages}")


def export_run(run_dir, size: str, dpi: int = 300, paper: str = "A4", allow_tiling: bool = True,
               out_dir=None, name: str | None = None, write_png: bool = True, max_pages: int = DEFAULT_MAX_PAGES,
               log=None) -> ExportResult:
    """`log(message)` hears about a tiled print (how many pages) before they are rendered."""
    run_dir = Path(run_dir)
    check_dpi_and_max_pages(dpi, max_pages)
    paper_mm = paper_size_mm(paper)
    rgb, meta = read_run_artifact(run_dir)
    height_px, width_px = rgb.shape[:2]
    w, h = parse_size_mm(size, width_px / height_px)

    own_export_dir = run_dir / run_files.EXPORT
    out_dir = Path(out_dir) if out_dir else own_export_dir
    stem = name or f"{meta.get('artifact', 'patch')}_{w:.0f}x{h:.0f}mm_{paper.lower()}"
    marker_ids = allocate_marker_ids(run_dir, out_dir, stem)
    sheet, layout = build_export_sheet(rgb, w, h, caption_for(run_dir, meta, w, h), marker_ids)
    pages = plan_pages(sheet, paper_mm, allow_tiling=allow_tiling)
    if len(pages.tiles) > max_pages:
        x0, y0, x1, y1 = sheet.bounds()
        raise UserError(f"the print ({x1 - x0:.0f} x {y1 - y0:.0f} mm with its markers and caption) needs "
                        f"{len(pages.tiles)} {paper} pages ({pages.cols} x {pages.rows}), more than --max-pages "
                        f"{max_pages}: pass --max-pages {len(pages.tiles)} to make them, or choose a larger --paper "
                        f"or a smaller --size")
    if write_png:
        raster_size(sheet, dpi)
    marks = alignment_marks(sheet, pages)
    sheet.add(*marks)
    if pages.tiled and log is not None:
        log(f"{w:.0f} x {h:.0f} mm over {len(pages.tiles)} {paper} pages ({pages.cols} x {pages.rows}): rendering")

    pdf_path, png_path, sidecar_path = out_dir / f"{stem}.pdf", out_dir / f"{stem}.png", out_dir / f"{stem}.json"
    pdf = pdf_bytes(sheet, pages, title=f"patchgen {run_dir.resolve().name}")
    png = png_info = None
    if write_png:
        image, origin = render_raster(sheet, dpi)
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG", dpi=(dpi, dpi))
        png = buffer.getvalue()
        png_info = {"path": png_path.name, "dpi": int(dpi), "px_per_mm": mm_to_px(1.0, dpi),
                    "origin_mm": [round(origin[0], 4), round(origin[1], 4)],
                    "size_px": [int(image.shape[1]), int(image.shape[0])]}

    sidecar = {
        "artifact": "export",
        "source": export_source(run_dir, meta),
        "physical_size_mm": [round(w, 4), round(h, 4)],
        "pixels": [int(width_px), int(height_px)],
        "paper": paper_name(paper),
        "pdf": {"path": pdf_path.name, "pages": len(pages.tiles), "rows": pages.rows, "cols": pages.cols,
                "overlap_mm": round(pages.overlap_mm, 3),
                "tiles": [{"row": t.row, "col": t.col, "window_mm": [round(t.x0, 4), round(t.y0, 4), round(t.w, 4),
                                                                     round(t.h, 4)],
                           "page_mm": [t.page_w, t.page_h], "margin_mm": t.margin} for t in pages.tiles],
                "alignment_marks_mm": [[round(x, 3), round(y, 3)] for x, y in mark_centres(marks)]},
        "png": png_info,
        "marker_layout": layout,
    }
    # The sidecar last: an export is complete (and `capture/` reads it) only once its layout is there.
    atomic_write_bytes(pdf_path, pdf)
    if png is not None:
        atomic_write_bytes(png_path, png)
    else:  # a PNG left from an earlier export of this name would disagree with the new layout
        png_path.unlink(missing_ok=True)
    atomic_write_json(sidecar_path, sidecar)
    if out_dir.resolve() == own_export_dir.resolve():
        meta["physical_size_mm"] = [round(w, 4), round(h, 4)]
        run_files.write_sidecar(run_dir, meta)
    return ExportResult(pdf_path, png_path if write_png else None, sidecar_path, (w, h), len(pages.tiles),
                        marker_ids, int(dpi))
