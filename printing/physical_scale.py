"""The size a run's artifact must be printed at: the scale its placement trained it at (a fraction of each target's
box, or of the camera's image: patchgen/placements, `physical_scale`) times a real size of that target.

The scale is worked out from the run's recorded config, so a run made before its sidecar held `physical_scale`
prints alike. The target's real size is the default of its class (TARGETS), else --target-size. What the size
means follows what is printed: a patch's side; a texture's repeat (one square tile); a sticker set's object (the
pieces are their share of its diagonal). `patchgen export` prints at that size unless --size says otherwise, and
refuses a --size more than TOLERANCE away from it unless told (--any-size): a print at a scale it never trained at
mostly fails, and nothing else would say so."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from patchgen import run_dir as run_files
from patchgen.errors import UserError, require_file

TOLERANCE = 0.25  # EOT trains at 0.9-1.1 x the placement's size; a print 25 % off is already well outside it


@dataclass(frozen=True)
class Target:
    what: str  # for messages: "a standing person"
    w_mm: float
    h_mm: float

    def shown(self) -> str:
        return f"{self.w_mm / 1000:.2f} x {self.h_mm / 1000:.2f} m"


# Default real sizes of a target class's box, width x height (README, "Print it").
TARGETS = {
    # 1.75 m: adult stature is about 1.70 m, plus shoes and the box's margin over the head. 0.65 m: the median
    # width / height of the 474 person boxes in INRIA Person's test positives is 0.38 (arms and stride).
    "person": Target("a standing person", 650.0, 1750.0),
    # The face boxes of NudeNet (the face detector patchgen ships) are square, cheek to cheek and brows to chin
    # (width / height 0.96-1.09 on the demo's three faces); an adult face is about 15 cm across the cheekbones.
    "face": Target("a face", 150.0, 150.0),
    # 750 mm across the flats: the US stop sign (MUTCD R1-1, 30 in, conventional roads); Europe's are 600-900 mm.
    "stop sign": Target("a stop sign", 750.0, 750.0),
    # A mid-size car seen from the side: about 4.5 m long and 1.5 m high.
    "car": Target("a car seen from the side", 4500.0, 1500.0),
}
ALIASES = {"face female": "face", "face male": "face"}  # NudeNet's face classes
# A classifier sees one centred square of the photo. 0.5 m across: a tabletop object (a toaster is about 0.3 m)
# filling most of the view, as in the photos of ImageNet classes such patches are trained on.
CLASSIFIER_VIEW = Target("a classifier's view", 500.0, 500.0)


@dataclass(frozen=True)
class Implied:
    """The size the training implies, as the exporter's --size (`size`) and in millimetres (`mm`: a side, a
    repeat, or the object's width x height); `why` says where it comes from."""

    means: str  # side | repeat | object
    mm: tuple[float, ...]
    size: str
    why: str
    aspect_w_over_h: float = 1.0  # the printed image's, which a --size of one length keeps

    @property
    def noun(self) -> str:
        return {"side": "side", "repeat": "repeat", "object": "object's diagonal"}[self.means]

    def length(self) -> float:
        """The one length a --size is compared on: a side, a repeat, an object's diagonal."""
        return math.hypot(*self.mm) if self.means == "object" else self.mm[0]

    def shown(self) -> str:
        if self.means == "object":
            return f"object {self.mm[0]:.0f} x {self.mm[1]:.0f} mm"
        return f"{'repeat ' if self.means == 'repeat' else ''}{self.mm[0] / 10:.1f} cm"


def recorded_config(run_dir: Path, meta: dict):
    """The parts of the run's config that size it (goal, artifact, placement), from RUN/patch.json's "config",
    else RUN/config.yaml; None when the run records neither."""
    from patchgen.config import ArtifactConfig, PlacementConfig, RunConfig, from_dict

    data = meta.get("config")
    if data is None:
        return run_files.run_config(run_dir) if (run_dir / run_files.CONFIG).is_file() else None
    if not isinstance(data, dict):
        raise UserError(f"{run_dir / run_files.SIDECAR}: 'config' must be a mapping")
    try:
        return RunConfig(goal=str(data.get("goal") or "vanish"),
                         artifact=from_dict(ArtifactConfig, data.get("artifact") or {}, "artifact."),
                         placement=from_dict(PlacementConfig, data.get("placement") or {}, "placement."))
    except UserError as err:
        raise UserError(f"{run_dir / run_files.SIDECAR}: its recorded config: {err}") from None


def run_scale(run_dir: Path, meta: dict, config) -> dict:
    """The placement's physical_scale for this run: the placement training used (as recorded), from its config."""
    from patchgen import registry
    from patchgen.config import placement_kind

    kind = (meta.get("placement") or {}).get("kind") or placement_kind(config)
    if kind not in registry.PLUGINS["placement"]:
        raise UserError(f"{run_dir / run_files.SIDECAR}: placement {kind!r} is not one of "
                        f"{', '.join(registry.PLUGINS['placement'])}")
    return registry.get("placement", kind).physical_scale(config)


def class_key(name) -> str:
    key = str(name).strip().lower().replace("_", " ")
    return ALIASES.get(key, key)


def box_target(meta: dict, target_size: str | None) -> Target:
    """The real size of the run's target box: its first target class with a default, or --target-size (one length:
    the box's height, its width in that class's proportion; or width x height)."""
    from printing.physical_size import parse_lengths_mm

    classes = [str(c) for c in meta.get("target_classes") or []]
    known = [c for c in classes if class_key(c) in TARGETS]
    default = TARGETS[class_key(known[0])] if known else None
    named = known[0] if known else (classes[0] if classes else "target")
    if target_size is None:
        if default is None:
            raise UserError(f"patchgen has no default size for a {named!r} box (it knows "
                            f"{', '.join(TARGETS)}): pass --target-size, the real width x height of the target's "
                            f"box, e.g. --target-size 0.8x1.2m")
        return default
    lengths = parse_lengths_mm(target_size)
    if lengths is None:
        raise UserError(f"cannot read --target-size {target_size!r}: write a length (the box's height) or width x "
                        f"height, with a unit, e.g. 1.9m or 0.7x1.9m")
    if len(lengths) == 2:
        return Target(f"a {named}, --target-size {target_size}", *lengths)
    if default is None:
        raise UserError(f"--target-size {target_size} is one length, the height of a box whose width patchgen "
                        f"knows for {', '.join(TARGETS)}; for a {named!r} give width x height, e.g. 0.8x1.2m")
    height = lengths[0]
    return Target(f"{default.what}, --target-size {target_size}", height * default.w_mm / default.h_mm, height)


def view_target(meta: dict, target_size: str | None) -> Target:
    """The real size of what the camera's image shows: --target-size (one length: a square; or width x height),
    else a classifier's default view. A detector's images are scenes of no set size."""
    from printing.physical_size import parse_lengths_mm

    if target_size is None:
        if meta.get("family") == "classifier":
            return CLASSIFIER_VIEW
        raise UserError("this run's artifact was sized against the whole image, and a detector's images are "
                        "scenes of no set size: pass --target-size, the width (or width x height) of what your "
                        "camera frames, e.g. --target-size 4m")
    lengths = parse_lengths_mm(target_size)
    if lengths is None:
        raise UserError(f"cannot read --target-size {target_size!r}: write the width of what the camera frames, "
                        f"or width x height, with a unit, e.g. 0.5m or 4x3m")
    return Target(f"the camera's view, --target-size {target_size}", lengths[0], lengths[-1])


def square_mm(scale: dict, target: Target, fill: float) -> tuple[tuple[float, float], str]:
    """The artifact's square (its mask; a texture's crop) as it lay on the target in training, (w, h) mm, and how
    that follows from the placement."""
    if "side_of_diagonal" in scale:
        diagonal = math.hypot(target.w_mm, target.h_mm)
        side = scale["side_of_diagonal"] * diagonal
        return (side, side), (f"{scale['side_of_diagonal']:g} of the box diagonal of {target.what} "
                              f"({diagonal / 1000:.2f} m: {target.shown()})")
    if "visible_area" in scale:
        side = math.sqrt(scale["visible_area"] * target.w_mm * target.h_mm / max(fill, 1e-6))
        return (side, side), (f"its visible part {scale['visible_area']:g} of the area of {target.what} "
                              f"({target.shown()})")
    w, h = scale["width"] * target.w_mm, scale["height"] * target.h_mm
    part = "the whole" if scale["width"] == scale["height"] == 1 else f"{scale['width']:g} x {scale['height']:g}"
    return (w, h), f"{part} of {'the box of ' if scale['on'] == 'box' else ''}{target.what} ({target.shown()})"


def implied_size(run_dir, meta: dict, target_size: str | None = None) -> Implied | None:
    """The size the run's training implies for its print; None when the run records no config to tell."""
    from patchgen import registry
    from patchgen.image_io import read_image

    run_dir = Path(run_dir)
    config = recorded_config(run_dir, meta)
    if config is None:
        return None
    scale = run_scale(run_dir, meta, config)
    target = box_target(meta, target_size) if scale["on"] == "box" else view_target(meta, target_size)
    if "piece_sides_of_diagonal" in scale:
        w, h = target.w_mm, target.h_mm
        return Implied("object", (w, h), f"{round(w, 1):g}x{round(h, 1):g}mm",
                       f"the box of {target.what} ({target.shown()}), each sticker its share of its diagonal")

    image = read_image(require_file(run_dir / run_files.ARTIFACT_PNG, "artifact image"), keep_alpha=True)
    fill = float(image[:, :, 3].mean()) / 255 if image.shape[2] == 4 else 1.0  # the mask's share of its square
    aspect = image.shape[1] / image.shape[0]
    (w, h), how = square_mm(scale, target, fill)
    plugin = registry.PLUGINS["artifact"].get(config.artifact.kind)
    if plugin is not None and "artifact.crop" in plugin.uses:  # a tiling, read through crops: the print is a tile
        tile, crop = config.artifact.size, config.artifact.crop or config.artifact.size
        # The tile's pixels were as large as the crop's, which covered w x h. A printed tile is square, but the
        # box region it was stretched over seldom is (a standing person's shirt front is about 0.46 x 0.65 m):
        # no square repeat matches both. The geometric mean keeps each tile's area as trained and is off by the
        # same factor in x and in y (the square root of the stretch, 1.19 there), where the larger side would
        # leave one axis off by the whole stretch (1.42).
        repeat = tile / crop * math.sqrt(w * h)
        return Implied("repeat", (repeat,), f"{repeat:.1f}mm",
                       f"{f'its {crop} px crop of the' if crop != tile else 'its'} {tile} px tile covered {how}, "
                       f"{w:.0f} x {h:.0f} mm; a square tile at their geometric mean", aspect)
    # A patch's image is its square. A square stretched to other proportions (a whole non-square view) prints
    # square at the geometric mean of the two, as a tile does.
    side = math.sqrt(w * h)
    return Implied("side", (side,), f"{side:.1f}mm", how, aspect)


def asked_length(implied: Implied, size: str) -> float:
    """--size as the exporter will read it (its own errors first), as the one length it is compared on."""
    from printing.physical_size import parse_size_mm

    if implied.means == "object":
        from printing.sticker_export import object_size_mm

        return math.hypot(*object_size_mm(size))
    return max(parse_size_mm(size, implied.aspect_w_over_h))


def print_size(run_dir, meta: dict, size: str | None, target_size: str | None = None,
               any_size: bool = False) -> tuple[str, str]:
    """The --size to export at and the line that says why: the implied size when `size` is None, else `size`
    when it is within TOLERANCE of it (or `any_size`); a UserError when it is not, or when nothing tells."""
    if any_size and size is None:
        raise UserError("--any-size prints at the --size you give: pass --size too")
    try:
        implied = implied_size(run_dir, meta, target_size)
    except UserError:
        if not any_size:
            raise
        # no size to compare with (a target of no default size, say), and the user has said not to compare
        return size, f"{size} as asked (--any-size)"
    if implied is None:
        if size is None:
            raise UserError(f"{Path(run_dir) / run_files.SIDECAR} records no training config to size the print "
                            f"from: pass --size")
        return size, f"{size} as asked (the run records no training config to check it against)"
    if size is None:
        return implied.size, f"{implied.shown()}: {implied.why}"
    asked, wanted = asked_length(implied, size), implied.length()
    off = asked / wanted - 1
    if abs(off) > TOLERANCE and not any_size:
        raise UserError(f"--size {size} makes the {implied.noun} {asked:.0f} mm, {abs(off):.0%} "
                        f"{'over' if off > 0 else 'under'} the {wanted:.0f} mm its training implies ({implied.why}): "
                        f"drop --size to print at {wanted:.0f} mm, give the target's real size with --target-size, "
                        f"or pass --any-size to print at {asked:.0f} mm anyway")
    return size, (f"{implied.noun} {asked:.0f} mm as asked{' (--any-size)' if any_size else ''}; the training "
                  f"implies {wanted:.0f} mm: {implied.why}")
