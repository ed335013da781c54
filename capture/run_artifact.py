"""What `capture/` needs to know of an artifact: its image, its physical size, the marker layouts of its exports (a
run may hold several: one per size and paper), and the attack it was made for (victim, goal, classes). A texture's
or a camouflage's artifact is the sheet of repeats it was exported as, with the sheet's markers
(capture/texture_print.py); a sticker set's, its pieces, each found on its own (capture/sticker_set.py). It comes
from a run directory (load_run) or from a published image with the attack named on the command line
(published_artifact: a peer's patch, printed without patchgen's markers, found by its own features)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from capture.sticker_set import object_size, piece_artifacts, printed_as_pieces
from capture.texture_print import choose_tiling, printed_as_tiling, sheet_image
from patchgen import registry, run_dir as run_files
from patchgen.config import RunConfig, apply_override, check_choices, from_dict
from patchgen.errors import UserError, require_file, require_folder
from patchgen.image_io import read_image
from patchgen.victim_names import family_of
from printing.physical_size import parse_size_mm
from printing.run_exports import ExportRecord, read_export, read_exports

# What --set may say about a published artifact: the attack it is for. Where it sits, the photos show.
ATTACK_KEYS = ("goal", "target_classes", "goal_class")


@dataclass
class RunArtifact:
    image_rgba: np.ndarray  # (H,W,4) uint8; alpha is the shape mask
    size_mm: tuple  # (w, h) mm: the artifact frame every homography starts from (see export_to_artifact)
    exports: tuple  # ExportRecord per export the photos may show (printing/run_exports.py); () if never exported
    victim: str | None
    goal: str  # a goal's name (patchgen.registry): its photo_verdict judges the photos
    target_classes: tuple  # the classes the attack acts on (vanish hides them, mislabel relabels them)
    goal_class: str  # the class mislabel and appear aim for ("" for vanish)
    name: str  # for reports: the run directory's name, or the published image's file name
    run_dir: Path | None = None  # None: a published image, no run
    size_known: bool = True  # False: no physical size anywhere, 1 mm per pixel assumed
    # (x, y): a texture's print repeats at this (image_rgba and size_mm are then the whole sheet's, or one repeat
    # where it was never exported); the locator must not take the sheet for itself moved by whole repeats.
    # None: no repeats (a patch).
    period_mm: tuple | None = None
    # The victim input size the run was trained and evaluated at (its sidecar's imgsz); None: the victim's own (a
    # published image, a sidecar without it).
    imgsz: int | None = None
    # A sticker set's pieces, each a RunArtifact of its own (capture/sticker_set.py): the photos are scored with
    # every piece located; () for any other kind. The set's own image is then its contact sheet, never looked for.
    pieces: tuple = ()

    @property
    def rgb(self) -> np.ndarray:
        return self.image_rgba[:, :, :3]

    @property
    def mask(self) -> np.ndarray:
        return self.image_rgba[:, :, 3] > 127

    @property
    def px_per_mm(self) -> float:
        return self.image_rgba.shape[1] / float(self.size_mm[0])

    @property
    def judged_classes(self) -> tuple:
        """The classes the verdict reads (drawn as targets): the goal class where the goal aims for one, else the
        target classes where it acts on targets, else none."""
        plugin = registry.PLUGINS["goal"][self.goal]
        return (self.goal_class,) if plugin.needs_class else self.target_classes if plugin.uses_targets else ()

    @property
    def wearer_classes(self) -> tuple | None:
        """The wearer's classes where the goal acts on target boxes; None where it has no wearer."""
        return self.target_classes if registry.PLUGINS["goal"][self.goal].uses_targets else None

    @property
    def attack(self) -> str:
        """In words, for titles: 'vanish person', 'mislabel person as car', 'appear car', 'targeted toaster'."""
        plugin = registry.PLUGINS["goal"][self.goal]
        words = [self.goal] + (["/".join(self.target_classes)] if plugin.uses_targets else [])
        if plugin.needs_class:
            words += (["as"] if plugin.uses_targets else []) + [self.goal_class]
        return " ".join(words)

    def make_goal(self, victim):
        """The run's goal plug-in on `victim`: its photo_verdict judges the photos."""
        config = from_dict(RunConfig, {"goal": self.goal, "target_classes": list(self.target_classes),
                                       "goal_class": self.goal_class})
        return registry.get("goal", self.goal)(victim, config)

    def mm_to_pixels(self) -> np.ndarray:
        """3x3: artifact mm -> pixel centres of the digital image (edge of pixel 0 at -0.5)."""
        sx = self.image_rgba.shape[1] / float(self.size_mm[0])
        sy = self.image_rgba.shape[0] / float(self.size_mm[1])
        return np.array([[sx, 0, -0.5], [0, sy, -0.5], [0, 0, 1]], dtype=np.float64)

    def corners_mm(self) -> np.ndarray:
        w, h = self.size_mm
        return np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64)

    def export_to_artifact(self, export: ExportRecord) -> np.ndarray:
        """3x3: an export's millimetres -> the artifact frame. Prints of one artifact differ only in scale (export
        keeps the aspect ratio), so one frame serves them all and rectification never needs to know which."""
        return np.diag([self.size_mm[0] / export.size_mm[0], self.size_mm[1] / export.size_mm[1], 1.0])


def choose_exports(run_dir: Path, export: str | None) -> tuple:
    """Every export in RUN/export, or only `export`: a name there (with or without .json) or a sidecar's path
    (a print exported with --out elsewhere)."""
    if export is None:
        return tuple(read_exports(run_dir / run_files.EXPORT))
    path = Path(export)
    if path.suffix == ".json" and path.is_file():
        records = read_export(path)
        if not records:
            raise UserError(f"--export {export}: no marker layout in this file (is it an export's .json?)")
        return tuple(records)
    records = read_exports(run_dir / run_files.EXPORT)
    wanted = path.name[:-5] if path.name.endswith(".json") else path.name
    chosen = [r for r in records if r.name == wanted]
    if not chosen:
        known = ", ".join(dict.fromkeys(r.name for r in records)) or "none: run `patchgen export` first"
        raise UserError(f"--export {export}: no such export in {run_dir / run_files.EXPORT} (its exports: {known})")
    return tuple(chosen)


def _check_attack(goal, target_classes, goal_class, where: str) -> None:
    """The attack a sidecar records, as capture reads it: a goal, the target classes as a list (of one name at
    least for a detector's goal: a classifier's record none), the goal class where the goal needs one. A UserError
    naming `where` and the key otherwise."""
    if goal not in registry.PLUGINS["goal"]:
        raise UserError(f"{where}: goal {goal!r} is not one of {', '.join(registry.PLUGINS['goal'])}")
    detector = registry.PLUGINS["goal"][goal].family == "detector"
    if not isinstance(target_classes, list) or (detector and not target_classes) or \
            not all(isinstance(name, str) and name for name in target_classes):
        raise UserError(f"{where}: target_classes must be a list of class names, got {target_classes!r}")
    if not isinstance(goal_class, str) or (registry.PLUGINS["goal"][goal].needs_class and not goal_class):
        raise UserError(f"{where}: goal {goal!r} needs a goal_class (the class it aims for), got {goal_class!r}")


def load_run(run_dir, export: str | None = None) -> RunArtifact:
    """The run's artifact image and sidecar (patchgen.run_dir) and the marker layouts of its exports (all of
    RUN/export, or `export`); for a kind printed as a tiling, the sheet of repeats it was exported as; for a
    sticker set, its pieces (capture/sticker_set.py)."""
    run_dir = require_folder(run_dir, "run directory")
    sidecar = run_files.read_sidecar(run_dir)
    where = str(run_dir / run_files.SIDECAR)
    missing = [key for key in ("family", "victim", "goal", "target_classes", "goal_class", "physical_size_mm")
               if key not in sidecar]
    if missing:
        raise UserError(f"{where} has no {', '.join(missing)}: not an artifact sidecar `patchgen train` wrote")
    _check_attack(sidecar["goal"], sidecar["target_classes"], sidecar["goal_class"], where)
    rgba = read_image(require_file(run_dir / run_files.ARTIFACT_PNG, "artifact image"), keep_alpha=True)
    attack = dict(victim=sidecar["victim"] or None, goal=sidecar["goal"], goal_class=sidecar["goal_class"],
                  target_classes=tuple(sidecar["target_classes"]), name=run_dir.name, run_dir=run_dir,
                  imgsz=sidecar.get("imgsz") or None)
    kind = sidecar.get("artifact", "patch")
    if printed_as_tiling(kind):
        tiling = choose_tiling(run_dir, kind, export)
        if tiling is None:  # one repeat of unknown size (1 mm per pixel)
            size = (float(rgba.shape[1]), float(rgba.shape[0]))
            return RunArtifact(image_rgba=rgba, size_mm=size, exports=(), size_known=False, period_mm=size, **attack)
        return RunArtifact(image_rgba=sheet_image(rgba, tiling), size_mm=tiling.pattern_mm, exports=tiling.exports,
                           period_mm=(tiling.repeat_mm, tiling.repeat_mm), **attack)

    exports = choose_exports(run_dir, export)
    if printed_as_pieces(kind):
        exports = tuple(e for e in exports if e.piece is not None)  # a sticker page's: one per piece
        size = object_size(exports)
        whole = RunArtifact(image_rgba=rgba, size_mm=size or (float(rgba.shape[1]), float(rgba.shape[0])),
                            exports=exports, size_known=size is not None, **attack)
        return dataclasses.replace(whole, pieces=piece_artifacts(whole, sidecar, where))
    size = exports[0].size_mm if exports else _size_pair(sidecar["physical_size_mm"], where)
    return RunArtifact(image_rgba=rgba, size_mm=size or (float(rgba.shape[1]), float(rgba.shape[0])),
                       exports=exports, size_known=size is not None, **attack)


def _size_pair(value, where: str):
    """physical_size_mm as export records it: [w, h] in mm, or None (never exported)."""
    if value is None:
        return None
    try:
        w, h = (float(v) for v in value)
    except (TypeError, ValueError):
        w = h = 0.0
    if not (w > 0 and h > 0):
        raise UserError(f"{where}: physical_size_mm must be [width, height] in mm, got {value!r}")
    return (w, h)


def attack_config(victim: str, assignments=()) -> RunConfig:
    """--victim and --set for a published artifact, checked as a run's config is (the goal against the victim's
    family, a goal_class where the goal needs one, types); only ATTACK_KEYS may be set."""
    data = {"victim": victim}
    for assignment in assignments:
        apply_override(data, assignment)
    other = [key for key in data if key not in ("victim", *ATTACK_KEYS)]
    if other:
        raise UserError(f"--set {other[0]}: photos of a published artifact take only {', '.join(ATTACK_KEYS)} "
                        f"(what the attack is for; where the artifact sits, the photos show)")
    config = from_dict(RunConfig, data)
    check_choices(config, family_of(victim) or "detector", goal_given="goal" in data)
    return config


def published_artifact(image, victim: str, assignments=(), size: str | None = None) -> RunArtifact:
    """A published patch (a peer's PNG, an image from another tool) as the artifact the photos show, read as
    `patchgen eval --artifact` reads it; the attack from --victim and --set (a detector's default: vanish person),
    its printed size from `size` as export takes it (8cm, 30x20cm). Without a size the photos still say where it
    is and how its colours came back (by its features; it has no markers), at 1 mm per pixel."""
    from patchgen.artifacts import artifact_from_image

    config = attack_config(victim, assignments)
    _check_attack(config.goal, config.target_classes, config.goal_class, "--set")
    path = require_file(image, "--artifact")
    try:
        rgba = artifact_from_image(path).rgba_uint8()
    except UserError as err:  # "PATH: not a readable image", said of the flag it came in
        raise UserError(f"--artifact {err}") from None
    height, width = rgba.shape[:2]
    size_mm = parse_size_mm(size, width / height) if size else (float(width), float(height))
    return RunArtifact(image_rgba=rgba, size_mm=size_mm, exports=(), victim=config.victim, goal=config.goal,
                       target_classes=tuple(config.target_classes), goal_class=config.goal_class, name=path.name,
                       size_known=size is not None)
