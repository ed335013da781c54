"""Draw a sheet into a PDF with reportlab, one page per tile, at exact physical size (1 pt = 1/72 in)."""

from __future__ import annotations

import io

from PIL import Image
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas as pdf_canvas

from patchgen.atomic import atomic_write_bytes
from printing.physical_size import mm_to_pt
from printing.sheet import FONT, Circle, Line, Raster, Rect, Sheet, Text
from printing.tiling import PageLayout, Tile


def _draw_item(c, it, to_pt) -> None:
    if isinstance(it, Raster):
        x, y_top = to_pt(it.x, it.y)
        # No interpolation hint: the printer driver resamples; the box is exact either way.
        c.drawImage(ImageReader(Image.fromarray(it.rgb)), x, y_top - mm_to_pt(it.h),
                    width=mm_to_pt(it.w), height=mm_to_pt(it.h))
    elif isinstance(it, Rect):
        x, y_top = to_pt(it.x, it.y)
        c.setFillColorRGB(*[v / 255 for v in it.fill])
        c.rect(x, y_top - mm_to_pt(it.h), mm_to_pt(it.w), mm_to_pt(it.h), stroke=0, fill=1)
    elif isinstance(it, Line):
        c.setLineWidth(mm_to_pt(it.width))
        c.line(*to_pt(it.x1, it.y1), *to_pt(it.x2, it.y2))
    elif isinstance(it, Circle):
        c.setLineWidth(mm_to_pt(it.width))
        c.circle(*to_pt(it.cx, it.cy), mm_to_pt(it.r), stroke=1, fill=0)
    elif isinstance(it, Text):
        c.setFillColorRGB(0, 0, 0)
        c.setFont(FONT, mm_to_pt(it.size))
        draw = c.drawCentredString if it.anchor == "middle" else c.drawString
        draw(*to_pt(it.x, it.y), it.text)


def _draw_tile(c, sheet: Sheet, tile: Tile, layout: PageLayout, title: str) -> None:
    page_h = mm_to_pt(tile.page_h)

    def to_pt(x_mm, y_mm):
        return mm_to_pt(x_mm - tile.x0 + tile.margin), page_h - mm_to_pt(y_mm - tile.y0 + tile.margin)

    c.saveState()
    clip = c.beginPath()
    clip.rect(mm_to_pt(tile.margin), mm_to_pt(tile.margin), mm_to_pt(tile.w), mm_to_pt(tile.h))
    c.clipPath(clip, stroke=0, fill=0)
    c.setStrokeColorRGB(0, 0, 0)
    for it in sheet.items:
        _draw_item(c, it, to_pt)
    c.restoreState()
    if layout.tiled:
        # In the page margin: which tile this is and how it joins its neighbours.
        c.setFont("Helvetica", 7)
        c.setFillColorRGB(0, 0, 0)
        c.drawString(mm_to_pt(tile.margin), mm_to_pt(tile.margin / 2 - 1),
                     f"{title}  tile row {tile.row + 1}/{layout.rows}, column {tile.col + 1}/{layout.cols}  "
                     f"(pages overlap {layout.overlap_mm:.0f} mm: match the circled crosses)")


def render_pdf(sheet: Sheet, layout: PageLayout, path, title: str = "patchgen") -> None:
    atomic_write_bytes(path, pdf_bytes(sheet, layout, title))


def pdf_bytes(sheet: Sheet, layout: PageLayout, title: str = "patchgen") -> bytes:
    """The whole PDF in memory: a caller writing several files (PDF, PNG, sidecar) renders all before writing."""
    return book_pdf_bytes([(sheet, layout)], title)


def book_pdf_bytes(sheets: list[tuple[Sheet, PageLayout]], title: str = "patchgen") -> bytes:
    """Several sheets in one PDF, each on its own page(s), in order (a set of stickers and their placement
    guide); a tiled sheet's pages say which tile they are."""
    buffer = io.BytesIO()
    first = sheets[0][1].tiles[0]
    c = pdf_canvas.Canvas(buffer, pagesize=(mm_to_pt(first.page_w), mm_to_pt(first.page_h)), pageCompression=1)
    c.setTitle(title)
    c.setCreator("patchgen")
    for sheet, layout in sheets:
        for tile in layout.tiles:
            c.setPageSize((mm_to_pt(tile.page_w), mm_to_pt(tile.page_h)))
            _draw_tile(c, sheet, tile, layout, title)
            c.showPage()
    c.save()
    return buffer.getvalue()
