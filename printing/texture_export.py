"""`patchgen export RUN` for a texture or a camouflage: --size is the repeat, the side of one square tile as printed
on fabric or paper. Written into RUN/export (or --out):

- the tile as a PNG of the repeat at --dpi (DPI set), resampled as the plane it tiles so it stays seamless: the
  file a fabric printer repeats;
- a PDF sheet of the tiling at exactly that repeat, filling the paper's printable area, with ticks where repeats
  join (sheets cut on them butt into one seamless surface), a scale bar and a caption; a repeat larger than the
  paper is tiled over pages as a patch is (printing/tiling.py); four ArUco markers just outside the tiling's
  corners, ids of their own (printing/run_exports.py), whose layout (millimetres from the tiling's top-left)
  `capture/` finds the sheet by;
- a PNG of the whole sheet (untiled) at --dpi, as a patch's: what a print shop asks for, and what capture's
  synthetic photos are made from (its pixel geometry in the sidecar's `png`);
- a preview PNG of 3 x 3 tiles, at the tile's own pixels, to see the seams (there should be none);
- for a camouflage, a swatch PNG of its palette: each colour with its RGB, CIELAB and share of the tile, for
  matching inks or dyes;
- a sidecar JSON of what was written, with the marker layout (`marker_layout`, as a patch export's).

Everything is checked and rendered before any file is written, as for a patch (printing/export.py). The run's
own sidecar is left as it is: its physical_size_mm is a patch's printed size, which `capture/` reads."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from patchgen import run_dir as run_files
from patchgen.atomic import atomic_write_bytes, atomic_write_json
from patchgen.errors import UserError
from printing.export import (DEFAULT_MAX_PAGES, check_dpi_and_max_pages, export_source, read_run_artifact,
                             run_facts)
from printing.export_sheet import CAPTION_MM, corner_positions, wrap_caption
from printing.markers import marker_layout
from printing.pdf_render import pdf_bytes
from printing.physical_size import mm_to_px, paper_name, paper_size_mm, parse_size_mm
from printing.raster_render import check_png_pixels, raster_size, render_raster
from printing.run_exports import SHEET_MARKER_IDS, allocate_marker_ids
from printing.sheet import Line, Raster, Rect, Sheet, Text, marker_rects, scale_bar
from printing.tiling import PAGE_MARGIN_MM, alignment_marks, check_page_count, plan_pages

TICK_GAP_MM, TICK_MM = 0.8, 3.0  # repeat ticks just outside the pattern, on all four sides
TICK_BAND_MM = TICK_GAP_MM + TICK_MM
LINE_MM = 1.5 * CAPTION_MM  # caption line pitch, as on a patch's sheet
SWATCH_DPI = 150
# The sheet's markers, diagonally out from the tiling's corners (clear of the ticks, which run along its sides),
# grow with the tiling as a patch's do, for a sheet is photographed whole: 6 % of its longer side, 12-40 mm. On
# an A4 sheet that is about 16 mm (some 30 px in a photo where the sheet is 400 px) and leaves most of the page to
# the tiling; a 72 cm repeat over pages gets 40 mm. The gap, a quiet zone, is at least 1.6 marker cells.
SHEET_MARKER_SHARE, SHEET_MARKER_MM = 0.06, (12.0, 40.0)


def sheet_marker_geometry(width_mm: float, height_mm: float) -> tuple[float, float]:
    """(side, gap) in mm of a tiling's markers."""
    side = float(np.clip(SHEET_MARKER_SHARE * max(width_mm, height_mm), *SHEET_MARKER_MM))
    return side, max(4.0, side / 4)


@dataclass(frozen=True)
class TextureExport:
    pdf: Path
    tile_png: Path | None
    sheet_png: Path | None
    preview: Path | None
    swatch: Path | None
    sidecar: Path
    repeat_mm: float
    tile_px: int  # the PNG's side
    pattern_mm: tuple[float, float]  # the tiling on the PDF sheet
    pages: int
    dpi: int
    marker_ids: tuple

    def summary(self) -> list[str]:
        """What `patchgen export` prints: one line per file written."""
        w, h = self.pattern_mm
        pages = f"{self.pages} pages (tiled)" if self.pages > 1 else "1 page"
        lines = [f"wrote {self.pdf} ({w:.0f} x {h:.0f} mm of tiling at a {self.repeat_mm:.1f} mm repeat, {pages})"]
        if self.tile_png:
            lines.append(f"wrote {self.tile_png} (one {self.repeat_mm:.1f} mm repeat, {self.tile_px} px at {self.dpi} "
                         f"dpi, seamless)")
            lines.append(f"wrote {self.sheet_png} (the whole sheet, untiled, at {self.dpi} dpi)")
            lines.append(f"wrote {self.preview} (3 x 3 tiles)")
        if self.swatch:
            lines.append(f"wrote {self.swatch} (the palette: RGB and CIELAB of each colour)")
        ids = ", ".join(str(i) for i in self.marker_ids)
        return lines + [f"wrote {self.sidecar} (repeat, files, and the marker layout with ids {ids})"]


def seamless_resample(tile: np.ndarray, side_px: int, keep_colours: bool) -> np.ndarray:
    """(T,T,3) uint8 tile -> (side_px, side_px, 3), resampled as the infinite plane it tiles: the tile is padded
    with its own wrap-around and only its middle is resized, so the filter reads across every seam as across any
    other pixel. keep_colours: nearest neighbour, every pixel stays one of the tile's colours (a palette)."""
    t = tile.shape[0]
    support = 3 * max(1.0, t / side_px)  # Lanczos reaches 3 source px, more when it shrinks
    pad = int(math.ceil(support)) + 2
    plane = np.pad(tile, ((pad, pad), (pad, pad), (0, 0)), mode="wrap")
    resample = Image.Resampling.NEAREST if keep_colours else Image.Resampling.LANCZOS
    out = Image.fromarray(plane).resize((side_px, side_px), resample, box=(pad, pad, pad + t, pad + t))
    return np.asarray(out)


def tiling_sheet(tile: np.ndarray, repeat_mm: float, usable_mm: tuple[float, float], caption: list[str],
                 marker_ids) -> tuple[Sheet, tuple[float, float], dict]:
    """The tiling at `repeat_mm`, as many whole tile pixels as fill `usable_mm` with the ticks, markers and caption
    (at least one repeat each way), its top-left at the tile's top-left; ticks at every repeat, four markers
    (`marker_ids`, TL TR BR BL) out from its corners, then below it a scale bar and the caption. Returns the
    sheet, the pattern's (w, h) mm and the marker layout."""
    t = tile.shape[0]
    pitch = repeat_mm / t  # mm per tile pixel: whole pixels keep every repeat exactly repeat_mm
    below = TICK_BAND_MM + 1.0  # the scale bar's top, under the bottom ticks

    def lay_out(band):  # (cols, rows, caption lines) with `band` mm beside the tiling for ticks and markers
        cols = max(t, int((usable_mm[0] - 2 * band) / pitch))
        lines = wrap_caption(caption, cols * pitch)
        caption_band = below + 3.0 + 5.0 + (len(lines) - 1) * LINE_MM + 0.3 * CAPTION_MM + 0.5
        return cols, max(t, int((usable_mm[1] - band - max(caption_band, band)) / pitch)), lines

    # Markers sized for the tiling the page would hold without them, then the tiling laid out round them.
    cols, rows, _ = lay_out(TICK_BAND_MM)
    side, gap = sheet_marker_geometry(cols * pitch, rows * pitch)
    cols, rows, lines = lay_out(max(TICK_BAND_MM, gap + side))
    w, h = cols * pitch, rows * pitch
    pattern = np.tile(tile, (-(-rows // t), -(-cols // t), 1))[:rows, :cols]

    sheet = Sheet([Raster(0.0, 0.0, w, h, pattern)])
    near, far = TICK_GAP_MM, TICK_GAP_MM + TICK_MM
    for x in np.arange(0.0, w + 1e-6, repeat_mm):
        sheet.add(Line(x, -far, x, -near), Line(x, h + near, x, h + far))
    for y in np.arange(0.0, h + 1e-6, repeat_mm):
        sheet.add(Line(-far, y, -near, y), Line(w + near, y, w + far, y))
    markers = [(mid, x, y, side) for mid, (x, y) in zip(marker_ids, corner_positions(w, h, side, gap), strict=True)]
    for mid, x, y, _ in markers:
        sheet.add(*marker_rects(mid, x, y, side))
    sheet.add(*scale_bar(0.0, h + below, 100.0 if w >= 130.0 else 50.0))
    for i, line in enumerate(lines):
        sheet.add(Text(0.0, h + below + 8.0 + i * LINE_MM, line, size=CAPTION_MM))
    return sheet, (w, h), marker_layout((w, h), markers)


def palette_colours(palette: list, tile: np.ndarray) -> list[dict]:
    """Each palette colour's RGB, CIELAB (D65) and share of the tile's pixels, as the sidecar and swatch show them."""
    from skimage.color import rgb2lab

    rgb = np.asarray(palette, dtype=np.uint8)
    lab = rgb2lab(rgb / 255)
    pixels = tile.reshape(-1, 3)
    return [{"rgb": [int(v) for v in colour], "lab": [round(float(v), 2) for v in colour_lab],
             "share_percent": round(float((pixels == colour).all(axis=1).mean() * 100), 2)}
            for colour, colour_lab in zip(rgb, lab)]


def palette_swatch(colours: list[dict]) -> np.ndarray:
    """An RGB image of the palette, a row per colour: its block, then its RGB, CIELAB and share of the tile."""
    sheet = Sheet()
    for k, colour in enumerate(colours):
        y, (r, g, b), (L, a, bb) = k * 14.0, colour["rgb"], colour["lab"]
        sheet.add(Rect(0.0, y, 20.0, 12.0, (r, g, b)),
                  Text(24.0, y + 5.0, f"{k + 1}: RGB {r}, {g}, {b}", size=3.5),
                  Text(24.0, y + 10.5, f"CIELAB {L:.1f}, {a:.1f}, {bb:.1f}   {colour['share_percent']:.1f} % of the "
                                       f"tile", size=3.5))
    return render_raster(sheet, SWATCH_DPI, margin_mm=3.0)[0]


def read_palette(meta: dict, where: Path) -> list | None:
    """A camouflage's palette from its sidecar, [[r, g, b], ...] 0-255; None for a kind that has none."""
    palette = meta.get("palette")
    if palette is None:
        return None
    if not (isinstance(palette, list) and palette and all(
            isinstance(c, list) and len(c) == 3 and all(isinstance(v, int) and 0 <= v <= 255 for v in c)
            for c in palette)):
        raise UserError(f"{where}: 'palette' must be a list of [r, g, b] colours, each 0-255")
    return palette


def png_bytes(image: np.ndarray, dpi: int | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", **({"dpi": (dpi, dpi)} if dpi else {}))
    return buffer.getvalue()


def export_texture(run_dir, size: str, dpi: int = 300, paper: str = "A4", allow_tiling: bool = True,
                   out_dir=None, write_png: bool = True, max_pages: int = DEFAULT_MAX_PAGES,
                   log=None) -> TextureExport:
    """`size`: the repeat, one length (a tile is square). `log(message)` hears about a tiled sheet before it is
    rendered."""
    run_dir = Path(run_dir)
    check_dpi_and_max_pages(dpi, max_pages)
    paper_mm = paper_size_mm(paper)
    tile, meta = read_run_artifact(run_dir)
    if tile.shape[0] != tile.shape[1]:
        raise UserError(f"{run_dir}: a {meta.get('artifact')} tile must be square, its image is "
                        f"{tile.shape[1]} x {tile.shape[0]} px")
    repeat, _ = parse_size_mm(size, 1.0)
    palette = read_palette(meta, run_dir)
    kind = meta.get("artifact", "texture")

    out_dir = Path(out_dir) if out_dir else run_dir / run_files.EXPORT
    stem = f"{kind}_{repeat:.0f}mm_{paper.lower()}"
    caption = [f"patchgen run {run_dir.resolve().name}", f"{kind}, repeat {repeat:.1f} mm ({tile.shape[0]} px tile)",
               *run_facts(meta), "ticks mark the repeats: sheets cut on them join seamlessly"]
    usable = (paper_mm[0] - 2 * PAGE_MARGIN_MM, paper_mm[1] - 2 * PAGE_MARGIN_MM)
    marker_ids = allocate_marker_ids(run_dir, out_dir, stem, order=SHEET_MARKER_IDS)
    sheet, pattern_mm, layout = tiling_sheet(tile, repeat, usable, caption, marker_ids)
    pages = plan_pages(sheet, paper_mm, allow_tiling=allow_tiling)
    check_page_count(len(pages.tiles), max_pages, f"a {repeat:.0f} mm repeat", paper)
    side_px = max(1, int(round(mm_to_px(repeat, dpi))))
    if write_png:
        check_png_pixels(side_px, side_px, dpi)
        raster_size(sheet, dpi)
    sheet.add(*alignment_marks(sheet, pages))
    if pages.tiled and log is not None:
        log(f"a {repeat:.0f} mm repeat over {len(pages.tiles)} {paper} pages ({pages.cols} x {pages.rows}): rendering")

    names = {"pdf": f"{stem}.pdf", "tile_png": f"{stem}_tile.png", "sheet_png": f"{stem}.png",
             "preview": f"{stem}_preview.png", "swatch": f"{stem}_palette.png"}
    files = {"pdf": pdf_bytes(sheet, pages, title=f"patchgen {run_dir.resolve().name}")}
    colours = palette_colours(palette, tile) if palette is not None else None
    png_info = None
    if write_png:
        files["tile_png"] = png_bytes(seamless_resample(tile, side_px, keep_colours=palette is not None), dpi)
        image, origin = render_raster(sheet, dpi)
        files["sheet_png"] = png_bytes(image, dpi)
        png_info = {"path": names["sheet_png"], "dpi": int(dpi), "px_per_mm": mm_to_px(1.0, dpi),
                    "origin_mm": [round(origin[0], 4), round(origin[1], 4)],
                    "size_px": [int(image.shape[1]), int(image.shape[0])]}
        files["preview"] = png_bytes(np.tile(tile, (3, 3, 1)))
        if colours is not None:
            files["swatch"] = png_bytes(palette_swatch(colours), SWATCH_DPI)

    sidecar = {
        "artifact": f"{kind} export",
        "source": export_source(run_dir, meta),
        "repeat_mm": round(repeat, 4),
        "tile_px": int(tile.shape[0]),
        "paper": paper_name(paper),
        "pdf": {"path": names["pdf"], "pages": len(pages.tiles), "rows": pages.rows, "cols": pages.cols,
                "pattern_mm": [round(v, 4) for v in pattern_mm],
                "repeats": [round(v / repeat, 3) for v in pattern_mm],
                # where the tiling's top-left is on the page (None: tiled over pages)
                "pattern_on_page_mm": None if pages.tiled else [round(pages.tiles[0].margin - pages.tiles[0].x0, 4),
                                                                round(pages.tiles[0].margin - pages.tiles[0].y0, 4)]},
        # The PNG's repeat is whole pixels: off the asked size by under half a pixel.
        "tile_png": {"path": names["tile_png"], "dpi": int(dpi), "size_px": side_px,
                     "repeat_mm": round(side_px * 25.4 / dpi, 4)} if write_png else None,
        "png": png_info,  # the whole sheet; origin_mm: where its top-left pixel is, from the tiling's top-left
        "preview": names["preview"] if write_png else None,
        "palette": {"path": names["swatch"] if write_png else None, "colours": colours} if colours else None,
        "marker_layout": layout,
    }
    # The sidecar last: it describes only files that are whole. A PNG left from an earlier export of this name
    # (then with PNGs) would not match the new one.
    for key, name in names.items():
        if key in files:
            atomic_write_bytes(out_dir / name, files[key])
        else:
            (out_dir / name).unlink(missing_ok=True)
    sidecar_path = atomic_write_json(out_dir / f"{stem}.json", sidecar)

    def written(key):
        return out_dir / names[key] if key in files else None

    return TextureExport(out_dir / names["pdf"], written("tile_png"), written("sheet_png"), written("preview"),
                         written("swatch"), sidecar_path, repeat, side_px, pattern_mm, len(pages.tiles), int(dpi),
                         marker_ids)
