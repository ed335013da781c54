"""`patchgen export RUN` for a sticker set: --size is the OBJECT the stickers go on, its width x height. A piece's
side is its share of the object's diagonal (the config's artifact.pieces[k].side), so its printed side is
side x hypot(W, H); its centre goes at (u W, v H) from the object's top-left corner. Written into RUN/export (or
--out):

- one PDF: every piece at its physical size, numbered 1..K, with cut guides (crop marks at its square, a cut line
  round a circle) and two ArUco markers out from its top-left and bottom-right corners, with outer crop marks
  round piece and markers (printing/sticker_markers.py: cut there, a sticker keeps its markers and `capture/`
  finds it by them), packed on as few pages as fit (largest first, in shelves); a piece larger than the printable
  area gets pages of its own, tiled with overlaps as a large patch is (printing/tiling.py). Its last page is the
  placement guide: the object's outline scaled to fit the page, each piece drawn at its place and size with its
  number, the scale stated, and each centre in mm;
- each piece as a PNG at its physical size at --dpi (alpha its shape: the die-cut line a sticker printer wants),
  and as a marked PNG: the piece with its two markers, the sticker cut on its outer marks;
- a sidecar JSON with each piece's physical side and centre in mm, where it is in the PDF, and its marker layout
  (`pieces[k].marker_layout`, millimetres from the piece's top-left corner; ids of their own, two per piece:
  printing/run_exports.py).

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
from patchgen.errors import UserError, require_folder
from patchgen.image_io import read_image
from printing.export import DEFAULT_MAX_PAGES, check_dpi_and_max_pages, export_source, on_paper, run_facts
from printing.export_sheet import CAPTION_MM, wrap_caption
from printing.pdf_render import book_pdf_bytes
from printing.physical_size import mm_to_px, paper_name, paper_size_mm, parse_width_and_height_mm
from printing.raster_render import check_png_pixels, raster_size, render_raster
from printing.run_exports import SHEET_MARKER_IDS, allocate_marker_ids
from printing.sheet import Circle, Line, Raster, Sheet, Text, crop_marks, scale_bar
from printing.sticker_markers import add_markers, marked_sheet, piece_layout, piece_pad
from printing.tiling import PAGE_MARGIN_MM, alignment_marks, check_page_count, plan_pages

# Below this a piece cannot be cut by hand: most likely the object's size was given in the wrong unit.
MIN_PIECE_MM = 5.0
LINE_MM = 1.5 * CAPTION_MM
GUIDE_ROOM_MM = 6.0  # around the guide's drawing: the numbers beside pieces at the object's edge


@dataclass(frozen=True)
class Piece:
    number: int  # 1..K, as printed
    file: str
    rgba: np.ndarray  # (s, s, 4) uint8
    shape: str
    side_mm: float
    centre_mm: tuple[float, float]  # on the object, from its top-left corner


@dataclass(frozen=True)
class StickerExport:
    pdf: Path
    pngs: tuple
    sidecar: Path
    object_mm: tuple[float, float]
    pieces: int
    pages: int
    guide_page: int
    dpi: int
    marker_ids: tuple = ()  # two per piece, in piece order (TL, BR)

    def summary(self) -> list[str]:
        """What `patchgen export` prints: one line per file written."""
        w, h = self.object_mm
        lines = [f"wrote {self.pdf} ({self.pieces} stickers at physical size for a {w:.0f} x {h:.0f} mm object, "
                 f"{self.pages} pages; placement guide on page {self.guide_page})"]
        if self.pngs:
            lines.append(f"wrote {self.pngs[0]} .. {self.pngs[-1].name} (each sticker at its size, {self.dpi} dpi, "
                         f"alpha its shape)")
            first, last = (p.with_name(f"{p.stem}_marked.png") for p in (self.pngs[0], self.pngs[-1]))
            lines.append(f"wrote {first} .. {last.name} (each sticker with its two markers, as cut on its outer "
                         f"marks)")
        ids = ", ".join(str(i) for i in self.marker_ids)
        return lines + [f"wrote {self.sidecar} (each sticker's side, centre and marker layout in mm; marker ids "
                        f"{ids}, two per sticker)"]


def object_size_mm(size: str) -> tuple[float, float]:
    pair = parse_width_and_height_mm(size)
    if pair is None:
        raise UserError(f"stickers need the width x height of the object they go on, e.g. --size 60x170cm; "
                        f"got {size!r}")
    return pair


def read_pieces(run_dir: Path, meta: dict, object_mm: tuple[float, float]) -> list[Piece]:
    where = run_dir / run_files.SIDECAR
    entries = meta.get("pieces")
    if not isinstance(entries, list) or not entries:
        raise UserError(f"{where}: a sticker set needs 'pieces', a list of {{file, centre, side, shape}}")
    diagonal = math.hypot(*object_mm)
    pieces = []
    for k, entry in enumerate(entries):
        try:
            file, (u, v), side = str(entry["file"]), (float(c) for c in entry["centre"]), float(entry["side"])
        except (KeyError, TypeError, ValueError):
            raise UserError(f"{where}: pieces[{k}] needs file, centre [u, v] and side") from None
        if not (math.isfinite(u) and math.isfinite(v) and 0 < side <= 1):
            raise UserError(f"{where}: pieces[{k}] needs a finite centre and a side in (0, 1], got {entry}")
        rgba = read_image(run_dir / file, keep_alpha=True)
        if rgba.shape[0] != rgba.shape[1]:
            raise UserError(f"{run_dir / file}: a sticker piece must be square, it is {rgba.shape[1]} x "
                            f"{rgba.shape[0]} px")
        side_mm = side * diagonal
        if side_mm < MIN_PIECE_MM:
            raise UserError(f"sticker {k + 1} would be {side_mm:.2g} mm across ({side:g} of the object's "
                            f"{diagonal:.0f} mm diagonal), too small to cut: is --size in the right unit?")
        pieces.append(Piece(k + 1, file, rgba, str(entry.get("shape", "square")), side_mm,
                            (u * object_mm[0], v * object_mm[1])))
    return pieces


def draw_piece(sheet: Sheet, piece: Piece, x: float, y: float, marker_ids) -> None:
    """The piece's square at (x, y), its cut guides, its two markers, its number centred under it."""
    s = piece.side_mm
    sheet.add(Raster(x, y, s, s, on_paper(piece.rgba)))
    sheet.add(*crop_marks(x, y, s, s, offset=1.5, length=4.0))
    add_markers(sheet, x, y, s, marker_ids)
    if piece.shape == "circle":  # the cut line itself; any other shape is cut on its printed edge
        sheet.add(Circle(x + s / 2, y + s / 2, s / 2, 0.15))
    sheet.add(Text(x + s / 2, y + s + 4.6, str(piece.number), size=3.0, anchor="middle"))


def page_header(sheet: Sheet, parts: list[str], width: float) -> float:
    """A 50 mm scale bar and the wrapped caption at the sheet's top; returns the height they take."""
    sheet.add(*scale_bar(0.0, 0.0, 50.0))
    lines = wrap_caption(parts, width)
    for i, line in enumerate(lines):
        sheet.add(Text(0.0, 8.0 + i * LINE_MM, line, size=CAPTION_MM))
    return 8.0 + (len(lines) - 1) * LINE_MM + 3.0


def pack(pieces: list[Piece], usable: tuple[float, float], top: float) -> tuple[list[list], list[Piece]]:
    """First-fit decreasing in shelves: pages of [(piece, x, y)] with each piece's square at (x, y) below `top`
    (its band round it: printing/sticker_markers.py piece_pad), and the pieces too large for any page."""
    uw, uh = usable
    pages, shelves, oversize = [], [], []  # shelf: [page, y, height, next x]
    page_bottoms = []
    for piece in sorted(pieces, key=lambda p: -p.side_mm):
        pad = piece_pad(piece.side_mm)
        cell = piece.side_mm + 2 * pad
        if cell > uw or top + cell > uh:
            oversize.append(piece)
            continue
        shelf = next((s for s in shelves if s[2] >= cell and s[3] + cell <= uw), None)
        if shelf is None:
            page = next((i for i, bottom in enumerate(page_bottoms) if bottom + cell <= uh), None)
            if page is None:
                pages.append([])
                page_bottoms.append(top)
                page = len(pages) - 1
            shelf = [page, page_bottoms[page], cell, 0.0]
            page_bottoms[page] += cell
            shelves.append(shelf)
        pages[shelf[0]].append((piece, shelf[3] + pad, shelf[1] + pad))
        shelf[3] += cell
    return pages, oversize


def guide_sheet(pieces: list[Piece], object_mm: tuple[float, float], paper_mm,
                title: str) -> tuple[Sheet, float, tuple]:
    """The placement guide: the object's outline and every piece at its place and size, scaled to fit the page
    (never enlarged: a small object's guide is a 1:1 template), in whichever orientation draws it larger.
    Returns the sheet, its scale and the outline's (x, y, w, h) on it."""
    w, h = object_mm
    # The drawing's extent in object mm: the outline, and pieces that stick out past it.
    x0 = min([0.0] + [p.centre_mm[0] - p.side_mm / 2 for p in pieces])
    y0 = min([0.0] + [p.centre_mm[1] - p.side_mm / 2 for p in pieces])
    x1 = max([w] + [p.centre_mm[0] + p.side_mm / 2 for p in pieces])
    y1 = max([h] + [p.centre_mm[1] + p.side_mm / 2 for p in pieces])
    centres = [f"{p.number}: {p.centre_mm[0]:.0f}, {p.centre_mm[1]:.0f}; {p.side_mm:.0f} mm" for p in pieces]

    def text(scale: str, width: float) -> list[str]:
        return (wrap_caption([f"{title}: placement guide for {len(pieces)} stickers",
                              f"the outline is the {w:.0f} x {h:.0f} mm object, drawn at {scale}"], width)
                + wrap_caption(["sticker: centre in mm from the object's top-left corner (right, down); side",
                                *centres], width))

    best = None
    for pw, ph in (paper_mm, paper_mm[::-1]):
        uw, uh = pw - 2 * PAGE_MARGIN_MM, ph - 2 * PAGE_MARGIN_MM
        top = 4.0 + len(text("scale 1:99999.9", uw)) * LINE_MM
        k = min(1.0, (uw - 2 * GUIDE_ROOM_MM) / (x1 - x0), (uh - top - 2 * GUIDE_ROOM_MM) / (y1 - y0))
        if best is None or k > best[0]:
            best = (k, uw, top)
    k, uw, top = best
    scale = "full size (1:1)" if k == 1.0 else f"scale 1:{1 / k:.1f} (1 cm here is {1 / k:.1f} cm on the object)"
    sheet = Sheet()
    for i, line in enumerate(text(scale, uw)):
        sheet.add(Text(0.0, 3.0 + i * LINE_MM, line, size=CAPTION_MM))
    ox = (uw - (x1 - x0) * k) / 2 - x0 * k
    oy = top + GUIDE_ROOM_MM - y0 * k
    corners = [(ox, oy), (ox + w * k, oy), (ox + w * k, oy + h * k), (ox, oy + h * k)]
    sheet.add(*(Line(*a, *b, 0.3) for a, b in zip(corners, corners[1:] + corners[:1])))
    for p in pieces:
        s = p.side_mm * k
        cx, cy = ox + p.centre_mm[0] * k, oy + p.centre_mm[1] * k
        sheet.add(Raster(cx - s / 2, cy - s / 2, s, s, on_paper(p.rgba)))
        sheet.add(Text(cx + s / 2 + 0.8, cy + 1.0, str(p.number), size=2.8))
    return sheet, k, (ox, oy, w * k, h * k)


def piece_png(piece: Piece, dpi: int) -> bytes:
    side = max(1, int(round(mm_to_px(piece.side_mm, dpi))))
    image = Image.fromarray(piece.rgba, "RGBA").resize((side, side), Image.Resampling.LANCZOS)
    return png_bytes(image, dpi)


def png_bytes(image: Image.Image, dpi: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", dpi=(dpi, dpi))
    return buffer.getvalue()


def marked_png(piece: Piece, marker_ids, dpi: int) -> tuple[bytes, list]:
    """The piece with its two markers on paper at `dpi` (the sticker cut on its outer marks), and the piece-mm
    coordinate of the PNG's top-left pixel corner."""
    sheet, margin = marked_sheet(on_paper(piece.rgba), piece.side_mm, marker_ids)
    rgb, origin = render_raster(sheet, dpi, margin_mm=margin)
    return png_bytes(Image.fromarray(rgb), dpi), [round(origin[0], 4), round(origin[1], 4)]


def export_stickers(run_dir, size: str, dpi: int = 300, paper: str = "A4", allow_tiling: bool = True,
                    out_dir=None, write_png: bool = True, max_pages: int = DEFAULT_MAX_PAGES,
                    log=None) -> StickerExport:
    """`size`: the object's width x height. `log(message)` hears about a piece tiled over pages before they are
    rendered."""
    run_dir = require_folder(run_dir, "run directory")
    check_dpi_and_max_pages(dpi, max_pages)
    paper_mm = paper_size_mm(paper)
    object_mm = object_size_mm(size)
    meta = run_files.read_sidecar(run_dir)
    pieces = read_pieces(run_dir, meta, object_mm)
    w, h = object_mm
    out_dir = Path(out_dir) if out_dir else run_dir / run_files.EXPORT
    stem = f"stickers_{w:.0f}x{h:.0f}mm_{paper.lower()}"
    ids = allocate_marker_ids(run_dir, out_dir, stem, count=2 * len(pieces), order=SHEET_MARKER_IDS)
    piece_ids = {p.number: ids[2 * k:2 * k + 2] for k, p in enumerate(pieces)}
    if write_png:
        for piece in pieces:
            side = int(round(mm_to_px(piece.side_mm, dpi)))
            check_png_pixels(side, side, dpi)
            sheet, margin = marked_sheet(on_paper(piece.rgba), piece.side_mm, piece_ids[piece.number])
            raster_size(sheet, dpi, margin)

    name = run_dir.resolve().name
    usable = (paper_mm[0] - 2 * PAGE_MARGIN_MM, paper_mm[1] - 2 * PAGE_MARGIN_MM)
    parts = [f"patchgen run {name}", f"stickers at physical size for a {w:.0f} x {h:.0f} mm object",
             *run_facts(meta), "print at 100 % scale: the bar is 50 mm",
             "cut on the outer marks to keep a sticker's two markers (photos then find it by them), on the inner "
             "marks for the sticker alone"]
    top = page_header(Sheet(), parts, usable[0])  # the header's height, the same on every page
    packed, oversize = pack(pieces, usable, top)
    if oversize and not allow_tiling:
        big = oversize[0]
        raise UserError(f"sticker {big.number} is {big.side_mm:.0f} mm across, more than the printable "
                        f"{usable[0]:.0f} x {usable[1]:.0f} mm of {paper} with its cut marks: drop --no-tile to tile "
                        f"it over pages, or choose a larger --paper")

    sheets, placed, tiled = [], {}, []  # placed: piece number -> (first PDF page, its square there or None)
    for group in [*packed, *([(p, piece_pad(p.side_mm), top + piece_pad(p.side_mm))] for p in oversize)]:
        sheet = Sheet()
        page_header(sheet, parts, usable[0])
        for piece, x, y in group:
            draw_piece(sheet, piece, x, y, piece_ids[piece.number])
        layout = plan_pages(sheet, paper_mm)
        sheet.add(*alignment_marks(sheet, layout))
        first = sum(len(laid.tiles) for _, laid in sheets) + 1
        tile = layout.tiles[0]
        for piece, x, y in group:
            box = None if layout.tiled else [round(x - tile.x0 + tile.margin, 4), round(y - tile.y0 + tile.margin, 4),
                                             round(piece.side_mm, 4), round(piece.side_mm, 4)]
            placed[piece.number] = (first, box)
        if layout.tiled:
            tiled.append(f"sticker {group[0][0].number} ({group[0][0].side_mm:.0f} mm) over {len(layout.tiles)} "
                         f"{paper} pages ({layout.cols} x {layout.rows})")
        sheets.append((sheet, layout))
    guide, scale, (gx, gy, gw, gh) = guide_sheet(pieces, object_mm, paper_mm, f"patchgen run {name}")
    guide_layout = plan_pages(guide, paper_mm, allow_tiling=False)
    sheets.append((guide, guide_layout))
    pages = sum(len(layout.tiles) for _, layout in sheets)
    check_page_count(pages, max_pages, f"the print of {len(pieces)} stickers for a {w:.0f} x {h:.0f} mm object", paper)
    for message in tiled if log is not None else ():
        log(message)
    guide_tile = guide_layout.tiles[0]
    guide_info = {"scale": round(scale, 6),
                  "object_box_on_page_mm": [round(gx - guide_tile.x0 + guide_tile.margin, 3),
                                            round(gy - guide_tile.y0 + guide_tile.margin, 3), round(gw, 3),
                                            round(gh, 3)]}

    pdf = book_pdf_bytes(sheets, title=f"patchgen {name}")
    pngs = {p.number: piece_png(p, dpi) for p in pieces} if write_png else {}
    marked = {p.number: marked_png(p, piece_ids[p.number], dpi) for p in pieces} if write_png else {}
    png_name, marked_name = f"{stem}_{{}}.png", f"{stem}_{{}}_marked.png"
    sidecar = {
        "artifact": "stickers export",
        "source": export_source(run_dir, meta, image=[p.file for p in pieces]),
        "object_size_mm": [round(w, 4), round(h, 4)],
        "object_diagonal_mm": round(math.hypot(w, h), 4),
        "paper": paper_name(paper),
        "pdf": {"path": f"{stem}.pdf", "pages": pages, "guide_page": pages, "guide": guide_info},
        "pieces": [{"number": p.number, "file": p.file, "shape": p.shape, "side_mm": round(p.side_mm, 4),
                    "centre_mm": [round(c, 4) for c in p.centre_mm], "page": placed[p.number][0],
                    "box_on_page_mm": placed[p.number][1],  # None: tiled over pages of its own
                    "png": {"path": png_name.format(p.number), "dpi": int(dpi),
                            "marked": {"path": marked_name.format(p.number), "px_per_mm": mm_to_px(1.0, dpi),
                                       "origin_mm": marked[p.number][1]}} if write_png else None,
                    "marker_layout": piece_layout(p.side_mm, piece_ids[p.number])}
                   for p in pieces],
    }
    # The sidecar last: it describes only files that are whole. Piece PNGs left from an earlier export of this
    # name would not match a PDF-only one.
    atomic_write_bytes(out_dir / f"{stem}.pdf", pdf)
    for p in pieces:
        path, marked_path = out_dir / png_name.format(p.number), out_dir / marked_name.format(p.number)
        if write_png:
            atomic_write_bytes(path, pngs[p.number])
            atomic_write_bytes(marked_path, marked[p.number][0])
        else:
            path.unlink(missing_ok=True)
            marked_path.unlink(missing_ok=True)
    sidecar_path = atomic_write_json(out_dir / f"{stem}.json", sidecar)
    written = tuple(out_dir / png_name.format(p.number) for p in pieces) if write_png else ()
    return StickerExport(out_dir / f"{stem}.pdf", written, sidecar_path, object_mm, len(pieces), pages, pages,
                         int(dpi), ids)
