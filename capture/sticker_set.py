"""A sticker set as the photos show it: K pieces stuck at their own places on an object, each found on its own (by
its two markers, printing/sticker_markers.py; else by its own image), and judged as one artifact: the
counterfactual paints out every piece found, the goal's photo_verdict reads the set's place (the box round the
pieces found), and the photo's record says how many were found ("3 of 4 stickers found").

Each piece is a RunArtifact of its own (its image, its printed side, the marker layouts of its prints), so the one
locator (capture/locate.py) finds it as it finds a patch."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import cv2
import numpy as np

from capture.colour_fidelity import colour_fidelity
from capture.locate import locate_artifact, other_prints_ids
from capture.rectify import rectify
from patchgen import registry
from patchgen.errors import UserError
from patchgen.image_io import read_image
from printing.markers import detect_markers
from printing.run_exports import read_json

# The pieces are on one object: seen from one camera, their scales (photo px per printed mm) differ by perspective
# only. A piece found by its image at over this factor from the scale of those found by their markers is a chance
# match (a small piece's image matches some patch of texture at a few dozen pixels), not the piece.
SCALE_FACTOR = 2.0


PIECES_EXPORTER = "printing.sticker_export:export_stickers"


def printed_as_pieces(kind: str) -> bool:
    """Whether `patchgen export` prints artifacts of this kind as separate pieces (a sticker set), as its plug-in
    says (patchgen.registry): the photos then show each piece on its own."""
    plugin = registry.PLUGINS["artifact"].get(kind)
    return plugin is not None and plugin.exporter == PIECES_EXPORTER


def piece_artifacts(artifact, sidecar: dict, where: str) -> tuple:
    """One RunArtifact per piece of the run's sticker set (`sidecar`: the run's), its exports those of
    `artifact.exports` made for that piece, its size the side they record (the first export's; unknown, 1 mm per
    pixel, where the set was never exported with markers)."""
    entries = sidecar.get("pieces")
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) and e.get("file") for e in entries):
        raise UserError(f"{where}: a sticker set needs 'pieces', a list of {{file, centre, side, shape}}")
    pieces = []
    for number, entry in enumerate(entries, start=1):
        rgba = read_image(artifact.run_dir / str(entry["file"]), keep_alpha=True)
        exports = tuple(e for e in artifact.exports if e.piece == number)
        size = exports[0].size_mm if exports else (float(rgba.shape[1]), float(rgba.shape[0]))
        pieces.append(dataclasses.replace(artifact, image_rgba=rgba, size_mm=size, exports=exports,
                                          name=f"{artifact.name} sticker {number}", size_known=bool(exports),
                                          period_mm=None, pieces=()))
    return tuple(pieces)


def object_size(exports) -> tuple | None:
    """(w, h) mm of the object the stickers were exported for (the first sticker export's), None without one."""
    for export in exports:
        size = read_json(export.path).get("object_size_mm")
        if isinstance(size, list) and len(size) == 2:
            return float(size[0]), float(size[1])
    return None


@dataclass
class SetLocation:
    """Where the pieces of a sticker set are in a photo: what a Location is for one artifact (capture/location.py),
    for the set. Its place (corners_px) is the box round every piece found."""

    pieces: tuple  # the set's piece artifacts, in order
    found: list  # per piece its Location, or None (not found; or in doubt, then in `doubts`)
    doubts: list = field(default_factory=list)  # why pieces found only in doubt were left out
    other_markers: tuple = ()

    @property
    def located(self) -> list:
        """(piece number, piece artifact, Location) of every piece found."""
        return [(k + 1, piece, where) for k, (piece, where) in enumerate(zip(self.pieces, self.found)) if where]

    def placed(self, artifact=None) -> list:
        """(artifact, Location) of each piece found: what the counterfactual paints out and the annotation draws."""
        return [(piece, where) for _, piece, where in self.located]

    @property
    def count(self) -> str:
        return f"{len(self.located)} of {len(self.pieces)} stickers found"

    @property
    def method(self) -> str:
        """"markers" where every piece found was found by its markers alone, "features" where by its image alone,
        else "markers+features"."""
        methods = {where.method for _, _, where in self.located}
        return methods.pop() if len(methods) == 1 and methods <= {"markers", "features"} else "markers+features"

    def describe(self) -> str:
        return f"{self.count} ({self.method})"

    @property
    def corners_px(self) -> np.ndarray:
        points = np.concatenate([where.corners_px for _, _, where in self.located])
        (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
        return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])

    @property
    def centre_px(self) -> np.ndarray:
        return self.corners_px.mean(axis=0)

    @property
    def markers(self) -> dict:
        return {k: v for _, _, where in self.located for k, v in where.markers.items()}

    @property
    def export(self):
        """The sticker export the first piece found by markers fitted (None: none was)."""
        return next((where.export for _, _, where in self.located if where.export is not None), None)

    doubt = None  # pieces in doubt are left out (see `doubts`); the set's place is never in doubt itself
    correlation = None

    def to_dict(self) -> dict:
        stickers = [{"number": k + 1, "found": where is not None, **(where.to_dict() if where else {})}
                    for k, where in enumerate(self.found)]
        return {"method": self.method, "corners_px": np.round(self.corners_px, 2).tolist(),
                "markers_found": sorted(int(k) for k in self.markers), "doubt": None,
                "export": self.export.name if self.export is not None else None,
                "stickers_found": len(self.located), "stickers": len(self.pieces), "found": self.count,
                "pieces": stickers}


def locate_set(photo_rgb: np.ndarray, artifact, appearances=None, use_features: bool = True,
               feature_max_side: int | None = None, hint: SetLocation | None = None) -> SetLocation | None:
    """Every piece looked for on its own (markers, else its image: capture/locate.py); None where none is found.
    A piece found only in doubt (a look-alike, two places alike) counts as not found, its doubt kept for the
    photo's notes."""
    detected = detect_markers(photo_rgb) if artifact.exports else {}
    found, doubts = [], []
    for k, piece in enumerate(artifact.pieces):
        previous = hint.found[k] if isinstance(hint, SetLocation) else None
        where = locate_artifact(photo_rgb, piece, appearance=appearances[k] if appearances else None,
                                use_features=use_features, feature_max_side=feature_max_side, hint=previous,
                                detected=detected)
        if where is not None:
            where.other_markers = ()  # another piece's markers are no other print: said once, for the set
            if where.doubt:
                doubts.append(f"sticker {k + 1}: {where.doubt}")
                where = None
        found.append(where)
    found = [keep_to_scale(k, piece, where, artifact.pieces, found, doubts)
             for k, (piece, where) in enumerate(zip(artifact.pieces, found))]
    if not any(found):
        return None
    return SetLocation(tuple(artifact.pieces), found, doubts, other_prints_ids(detected, artifact))


def scale_in_photo(piece, where) -> float:
    """Photo px per printed mm of a piece found: the root of its area in the photo over its area on paper."""
    area = abs(cv2.contourArea(where.corners_px.astype(np.float32)))
    return float(np.sqrt(area / (piece.size_mm[0] * piece.size_mm[1])))


def keep_to_scale(k: int, piece, where, pieces, found: list, doubts: list):
    """`where` unless it was found by the piece's image alone at a scale unlike (SCALE_FACTOR) that of the pieces
    found by their markers (then None, and why in `doubts`); as it is where none was found by markers."""
    if where is None or where.method != "features" or not piece.size_known:
        return where
    scales = [scale_in_photo(p, w) for p, w in zip(pieces, found) if w is not None and w.method != "features"]
    if not scales:
        return where
    ratio = scale_in_photo(piece, where) / float(np.median(scales))
    if 1 / SCALE_FACTOR <= ratio <= SCALE_FACTOR:
        return where
    doubts.append(f"sticker {k + 1}: what its image matched is {ratio:.1f}x the scale of the stickers found by their "
                  f"markers, not a sticker on the same object: left out")
    return None


def set_colour(photo_rgb: np.ndarray, location: SetLocation) -> dict:
    """Colour fidelity over every piece found at once: each rectified onto its own pixels, side by side."""
    photo, digital, masks = [], [], []
    height = location.located[0][1].image_rgba.shape[0]
    for _, piece, where in location.located:
        scale = height / piece.image_rgba.shape[0]
        size = (max(1, round(piece.image_rgba.shape[1] * scale)), height)
        photo.append(cv2.resize(rectify(photo_rgb, where, piece), size, interpolation=cv2.INTER_AREA))
        digital.append(cv2.resize(np.ascontiguousarray(piece.rgb), size, interpolation=cv2.INTER_AREA))
        masks.append(cv2.resize(piece.mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0)
    return colour_fidelity(np.concatenate(photo, axis=1), np.concatenate(digital, axis=1),
                           np.concatenate(masks, axis=1))
