"""Draw a whole sheet (untiled) into an RGB image at a DPI: the PNG that print shops ask for."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from patchgen.errors import UserError
from printing.physical_size import mm_to_px
from printing.sheet import Circle, Line, Raster, Rect, Sheet, Text

MAX_PIXELS = 400_000_000  # ~1.2 GB of RGB: past this a DPI is a typo, not a print job


def raster_size(sheet: Sheet, dpi: float, margin_mm: float = 5.0) -> tuple[int, int]:
    """(width, height) px of the sheet's PNG at `dpi`; one UserError (with a DPI that fits) past MAX_PIXELS, so
    that an export can refuse before it renders or writes anything."""
    x0, y0, x1, y1 = sheet.bounds()
    width = int(np.ceil(mm_to_px(x1 - x0 + 2 * margin_mm, dpi)))
    height = int(np.ceil(mm_to_px(y1 - y0 + 2 * margin_mm, dpi)))
    check_png_pixels(width, height, dpi)
    return width, height


def check_png_pixels(width: int, height: int, dpi: float) -> None:
    """One UserError (with a DPI that fits) for a PNG past MAX_PIXELS."""
    if width * height > MAX_PIXELS:
        fits = int(dpi * np.sqrt(MAX_PIXELS / (width * height)))
        raise UserError(f"the PNG at {dpi:g} dpi would be {width} x {height} px, over the {MAX_PIXELS // 10**6} Mpx "
                        f"limit: lower --dpi to {fits} or less, or pass --no-png")


def render_raster(sheet: Sheet, dpi: float, margin_mm: float = 5.0) -> tuple[np.ndarray, tuple[float, float]]:
    """(H, W, 3) uint8 image and the sheet-mm coordinate of its top-left pixel corner."""
    width, height = raster_size(sheet, dpi, margin_mm)
    x0, y0 = (v - margin_mm for v in sheet.bounds()[:2])
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)

    def px(x_mm, y_mm):
        return mm_to_px(x_mm - x0, dpi), mm_to_px(y_mm - y0, dpi)

    def box(x, y, w, h):
        # Edges rounded to the pixel grid, so a w mm wide box is round(w * dpi / 25.4) px wide.
        (a, b), (c, d) = px(x, y), px(x + w, y + h)
        return int(round(a)), int(round(b)), int(round(c)), int(round(d))

    for it in sheet.items:
        if isinstance(it, Raster):
            a, b, c, d = box(it.x, it.y, it.w, it.h)
            # Nearest: artifact pixels print as sharp squares, as they do from the PDF (which embeds them as-is).
            image.paste(Image.fromarray(it.rgb).resize((c - a, d - b), Image.Resampling.NEAREST), (a, b))
        elif isinstance(it, Rect):
            a, b, c, d = box(it.x, it.y, it.w, it.h)
            draw.rectangle((a, b, c - 1, d - 1), fill=tuple(int(v) for v in it.fill))
        elif isinstance(it, Line):
            draw.line((*px(it.x1, it.y1), *px(it.x2, it.y2)), fill=(0, 0, 0),
                      width=max(1, int(round(mm_to_px(it.width, dpi)))))
        elif isinstance(it, Circle):
            (cx, cy), r = px(it.cx, it.cy), mm_to_px(it.r, dpi)
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=(0, 0, 0),
                         width=max(1, int(round(mm_to_px(it.width, dpi)))))
        elif isinstance(it, Text):
            font = ImageFont.load_default(size=max(6, int(round(mm_to_px(it.size, dpi)))))
            anchor = "ms" if it.anchor == "middle" else "ls"  # baseline at y, like the PDF
            draw.text(px(it.x, it.y), it.text, fill=(0, 0, 0), font=font, anchor=anchor)
    return np.asarray(image), (x0, y0)
