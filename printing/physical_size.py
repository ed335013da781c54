"""Physical lengths and paper sizes: `30cm`, `300mm`, `12in`, `297x210mm` -> millimetres; A4/A3/Letter sheets."""

import re

from patchgen.errors import UserError

MM_PER_UNIT = {"mm": 1.0, "cm": 10.0, "m": 1000.0, "in": 25.4, "inch": 25.4, "\"": 25.4}
MM_PER_POINT = 25.4 / 72.0  # PDF user space: 1 pt = 1/72 in

# Portrait width x height in millimetres (ISO 216 and US Letter/Legal/Tabloid).
PAPER_MM = {
    "A5": (148.0, 210.0),
    "A4": (210.0, 297.0),
    "A3": (297.0, 420.0),
    "A2": (420.0, 594.0),
    "LETTER": (215.9, 279.4),
    "LEGAL": (215.9, 355.6),
    "TABLOID": (279.4, 431.8),
}

# Each side of a print: below 1 cm the artifact is smaller than its own markers; past 5 m a size is a typo (a
# 10 m print is over 2,000 A4 pages), not a print job.
PRINT_SIDE_MM = (10.0, 5000.0)

_LENGTH = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(mm|cm|m|in|inch|\")\s*$", re.IGNORECASE)
_SIZE_2D = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*[x×]\s*(\d+(?:\.\d*)?|\.\d+)\s*(mm|cm|m|in|inch|\")\s*$",
                      re.IGNORECASE)


def parse_length_mm(text: str) -> float:
    """`30cm` -> 300.0. A unit is required: a bare number is ambiguous on paper."""
    match = _LENGTH.match(str(text))
    if not match:
        raise UserError(f"cannot read the size {text!r}: write a number and a unit, e.g. 30cm, 300mm or 12in")
    value = float(match.group(1)) * MM_PER_UNIT[match.group(2).lower()]
    if value <= 0:
        raise UserError(f"the size {text!r} must be larger than zero")
    return value


def parse_size_mm(text: str, aspect_w_over_h: float) -> tuple[float, float]:
    """A print size as (width, height) mm, each side within PRINT_SIDE_MM. `30cm` sets the longer side and keeps
    the aspect; `30x20cm` is exact."""
    return _within_print_sides(text, *_size_mm(text, aspect_w_over_h))


def parse_width_and_height_mm(text: str) -> tuple[float, float] | None:
    """`60x170cm` -> (600.0, 1700.0), each side within PRINT_SIDE_MM, for a size with no aspect to keep (the
    object stickers go on); None when `text` is not two lengths, for the caller to say what it needs."""
    match = _SIZE_2D.match(str(text))
    if not match:
        return None
    unit = MM_PER_UNIT[match.group(3).lower()]
    return _within_print_sides(text, float(match.group(1)) * unit, float(match.group(2)) * unit)


def parse_lengths_mm(text: str) -> tuple[float, ...]:
    """`1.9m` -> (1900.0,), `0.6x1.8m` -> (600.0, 1800.0): one length or width x height of something measured (a
    target, a scene), not printed, so not held to PRINT_SIDE_MM; None when `text` is neither."""
    match = _SIZE_2D.match(str(text))
    if match:
        unit = MM_PER_UNIT[match.group(3).lower()]
        lengths = (float(match.group(1)) * unit, float(match.group(2)) * unit)
    else:
        match = _LENGTH.match(str(text))
        if not match:
            return None
        lengths = (float(match.group(1)) * MM_PER_UNIT[match.group(2).lower()],)
    if min(lengths) <= 0:
        raise UserError(f"the size {text!r} must be larger than zero")
    return lengths


def _within_print_sides(text: str, w: float, h: float) -> tuple[float, float]:
    low, high = PRINT_SIDE_MM
    if not (low <= w <= high and low <= h <= high):
        raise UserError(f"the size {text!r} gives a {w:.6g} x {h:.6g} mm print; each side must be between "
                        f"{low / 10:g} cm and {high / 1000:g} m")
    return w, h


def _size_mm(text: str, aspect_w_over_h: float) -> tuple[float, float]:
    match = _SIZE_2D.match(str(text))
    if match:
        unit = MM_PER_UNIT[match.group(3).lower()]
        w, h = float(match.group(1)) * unit, float(match.group(2)) * unit
        if w <= 0 or h <= 0:
            raise UserError(f"the size {text!r} must be larger than zero")
        if abs((w / h) / aspect_w_over_h - 1) > 0.01:
            raise UserError(f"the size {text!r} does not keep the artifact's aspect ratio "
                            f"({aspect_w_over_h:.3f}); give one length, e.g. {match.group(1)}{match.group(3)}")
        return w, h
    longer = parse_length_mm(text)
    if aspect_w_over_h >= 1:
        return longer, longer / aspect_w_over_h
    return longer * aspect_w_over_h, longer


def paper_size_mm(name: str, landscape: bool = False) -> tuple[float, float]:
    key = str(name).strip().upper()
    if key not in PAPER_MM:
        known = ", ".join(k if k[0] == "A" else k.title() for k in PAPER_MM)
        raise UserError(f"unknown paper {name!r} ({known})")
    w, h = PAPER_MM[key]
    return (h, w) if landscape else (w, h)


def paper_name(name: str) -> str:
    """As a sidecar records it: A4, Letter."""
    return name.upper() if name.upper().startswith("A") else name.title()


def mm_to_pt(mm: float) -> float:
    return mm / MM_PER_POINT


def mm_to_px(mm: float, dpi: float) -> float:
    return mm * dpi / 25.4
