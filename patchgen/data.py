"""Scenes: image folders with YOLO-format labels (or cached pseudo-labels from the clean victim), letterboxed to
the victim's input size and held in memory as tensors, so a training step indexes a batch with no Python loop."""

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from patchgen.atomic import atomic_write_json
from patchgen.errors import UserError
from patchgen.goals.thresholds import FOUND_CONF
from patchgen.image_io import read_image
from patchgen.letterbox import letterbox
from patchgen.placements.on_targets import torso

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


@dataclass
class Scenes:
    """A batch (or a whole set) of scenes: images (B,3,S,S) in [0,1] and padded target boxes (B,N,4) xyxy px."""

    images: torch.Tensor
    boxes: torch.Tensor
    mask: torch.Tensor  # (B,N) bool: which box slots hold a target
    names: list[str]
    labels: torch.Tensor | None = None  # (B,) long: each image's class (classifier data sets), else None

    def __len__(self):
        return self.images.shape[0]

    def _labels(self, idx=None, device=None):
        if self.labels is None:
            return None
        labels = self.labels if idx is None else self.labels[idx]
        return labels if device is None else labels.to(device)

    def to(self, device) -> "Scenes":
        return Scenes(self.images.to(device), self.boxes.to(device), self.mask.to(device), self.names,
                      self._labels(device=device))

    def subset(self, idx: torch.Tensor) -> "Scenes":
        return Scenes(self.images[idx], self.boxes[idx], self.mask[idx], [self.names[i] for i in idx.tolist()],
                      self._labels(idx))

    def max_diagonal(self) -> float:
        boxes = self.boxes[self.mask]
        return float(torch.hypot(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]).max()) if len(boxes) else 1.0

    def batch(self, idx: torch.Tensor) -> "Scenes":
        """Images as float [0,1] for the selected indices (stored as uint8 to keep sets small)."""
        return Scenes(self.images[idx].float() / 255, self.boxes[idx], self.mask[idx], self.names, self._labels(idx))


def crop_around_targets(scenes: Scenes, size: int, anchor_y: float = 0.4) -> Scenes:
    """size x size windows, one centred on each target's torso and kept inside its image: every target is trained
    at the full input's pixel scale for a fraction of the compute, and each as often as any other. (One window
    per image, around its largest target, left 16 % of INRIA dev's pseudo-labelled people, 22 % of those under
    100 px, in no window at all: they were never trained on.) A window's targets are the boxes whose torso it
    holds, largest first; boxes keep their true extent (they may reach past the window): placement is sized from
    the whole box."""
    full = scenes.images.shape[-1]
    if not 32 <= size <= full or size % 32:
        raise UserError(f"data.crop must be a multiple of 32 between 32 and the input size {full}, got {size}")
    image, slot = scenes.mask.nonzero(as_tuple=True)  # one window per target
    cx, cy = torso(scenes.boxes[image, slot], anchor_y)
    x0 = (cx - size / 2).round().clamp(0, full - size).long()
    y0 = (cy - size / 2).round().clamp(0, full - size).long()
    images = torch.stack([scenes.images[i, :, y : y + size, x : x + size]
                          for i, x, y in zip(image.tolist(), x0.tolist(), y0.tolist())])
    boxes = scenes.boxes[image] - torch.stack([x0, y0, x0, y0], 1).to(scenes.boxes.dtype)[:, None, :]
    ax, ay = torso(boxes, anchor_y)
    inside = scenes.mask[image] & (ax >= 0) & (ax < size) & (ay >= 0) & (ay < size)
    first = torch.argsort((~inside).to(torch.uint8), dim=1, stable=True)  # in-window targets first, order kept
    boxes = boxes.gather(1, first[..., None].expand(-1, -1, 4))
    inside = inside.gather(1, first)
    slots = int(inside.sum(1).max())
    return Scenes(images, boxes[:, :slots], inside[:, :slots], [scenes.names[i] for i in image.tolist()])


@dataclass
class LoadReport:
    loaded: int
    skipped: list[str]
    targets: int
    label_files: int = 0  # images labelled by their YOLO file
    pseudo_labelled: int = 0  # images labelled by the clean victim
    bad_label_lines: int = 0  # label lines skipped, each with a warning naming file and line
    clipped_boxes: int = 0  # label boxes that reached past the image, clipped to it (each with a warning)

    @property
    def label_source(self) -> str:
        if self.pseudo_labelled and self.label_files:
            return "mixed"
        return "pseudo" if self.pseudo_labelled else "files"

    def to_dict(self) -> dict:
        """What a run's sidecar and an evaluation record say about the data."""
        return {"images": self.loaded, "skipped": len(self.skipped), "targets": self.targets,
                "labels": self.label_source, "label_files": self.label_files,
                "pseudo_labelled": self.pseudo_labelled, "bad_label_lines": self.bad_label_lines,
                "clipped_boxes": self.clipped_boxes}

    def summary(self) -> str:
        """The data line's counts: images, targets, where the labels came from, what was skipped or clipped."""
        source = self.label_source
        if source == "mixed":
            source = f"mixed: {self.label_files} from files, {self.pseudo_labelled} pseudo"
        notes = [f"{n} {what}" for n, what in ((len(self.skipped), "unreadable images skipped"),
                                               (self.bad_label_lines, "bad label lines skipped"),
                                               (self.clipped_boxes, "label boxes clipped")) if n]
        return f"{self.loaded} images, {self.targets} targets ({source} labels)" + "".join(f", {n}" for n in notes)


def list_images(folder: Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"image folder not found: {folder}")
    images_dir = folder / "images" if (folder / "images").is_dir() else folder
    files = sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UserError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {images_dir}")
    return files


def label_path(image: Path) -> Path:
    """YOLO layout: .../images/x.jpg -> .../labels/x.txt; a flat folder keeps x.txt beside x.jpg."""
    if image.parent.name == "images":
        return image.parent.parent / "labels" / (image.stem + ".txt")
    return image.with_suffix(".txt")


def read_rgb(path: Path) -> np.ndarray | None:
    """RGB uint8, or None for a file that is not an image (the caller skips it with a warning)."""
    try:
        return read_image(path)
    except UserError:
        return None


EDGE_TOLERANCE = 0.01  # label tools round: a box edge this far past the image's edge is the edge, clipped quietly


@dataclass
class LabelCounts:
    """What reading label files found wrong, for the data report."""

    bad_lines: int = 0
    clipped: int = 0


def parse_label_line(line: str) -> tuple[int, np.ndarray, bool] | str:
    """One YOLO line 'class cx cy w h' (fractions of the image size) -> (class, xyxy fractions clipped to the
    image, whether clipping was more than rounding), or the reason it cannot be used."""
    fields = line.split()
    if len(fields) != 5:
        return f"expected 5 fields 'class cx cy w h', found {len(fields)}"
    try:
        class_id = float(fields[0])
    except ValueError:
        return f"the class must be the victim's class number, not {fields[0]!r}"
    try:
        cx, cy, w, h = (float(v) for v in fields[1:])
    except ValueError:
        return "cx cy w h must be numbers"
    if not class_id.is_integer() or class_id < 0:
        return f"the class must be a whole number >= 0, not {fields[0]!r}"
    if not all(np.isfinite([cx, cy, w, h])):
        return "NaN or infinite coordinate"
    if max(cx, cy, w, h) > 1 + EDGE_TOLERANCE:
        return "values above 1: these look like pixels; YOLO labels are fractions of the image size (0 to 1)"
    if w <= 0 or h <= 0:
        return "width and height must be above 0"
    box = np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], np.float32)
    clipped = box.clip(0, 1)
    if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
        return "the box lies wholly outside the image"
    past = max(-box[:2].min(), box[2:].max() - 1)
    return int(class_id), clipped, bool(past > EDGE_TOLERANCE)


def read_yolo_labels(path: Path, class_ids, width: int, height: int, counts: LabelCounts | None = None) -> np.ndarray:
    """Target boxes (n,4) xyxy in image pixels. Every bad line is skipped with one warning naming file and line
    (never used raw: a pixel label would size the EOT window at thousands of pixels); a box reaching past the
    image is clipped to it. `counts` tallies both for the data report."""
    counts = counts if counts is not None else LabelCounts()
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        print(f"warning: {path}: cannot be read as a label file ({getattr(err, 'strerror', None) or err}); "
              "no labels from it", file=sys.stderr)
        counts.bad_lines += 1
        return np.zeros((0, 4), np.float32)
    boxes = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parsed = parse_label_line(line)
        if isinstance(parsed, str):
            print(f"warning: {path}:{number}: {parsed}; line skipped", file=sys.stderr)
            counts.bad_lines += 1
            continue
        class_id, box, clipped = parsed
        if clipped:
            print(f"warning: {path}:{number}: the box reaches outside the image; clipped to it", file=sys.stderr)
            counts.clipped += 1
        if class_id in class_ids:
            boxes.append(box * np.array([width, height, width, height], np.float32))
    return np.stack(boxes) if boxes else np.zeros((0, 4), np.float32)


def load_scenes(folder, imgsz: int, class_ids, victim=None, labels: str = "auto", max_targets: int = 0,
                min_box_frac: float = 0.0, cache_dir=None, conf: float = FOUND_CONF, quiet: bool = False):
    """Load a folder into Scenes. labels: 'auto' (per image: its YOLO file where present, else a pseudo-label),
    'files' or 'pseudo'. Label files use the victim's class numbering; boxes of `class_ids` are targets.
    Corrupt images and bad label lines are skipped with one warning line each. max_targets keeps the largest."""
    class_ids = tuple(int(c) for c in class_ids)
    if labels not in ("auto", "files", "pseudo"):
        raise UserError(f"labels must be auto, files or pseudo, not {labels!r}")
    files = list_images(folder)
    unlabelled = files if labels == "pseudo" else [f for f in files if not label_path(f).is_file()]
    if labels == "files" and unlabelled:
        raise UserError(f"no label file for {unlabelled[0]} (expected {label_path(unlabelled[0])})")
    if unlabelled and victim is None:
        raise UserError("pseudo-labels need a victim")
    pseudo = pseudo_labels(unlabelled, victim, imgsz, class_ids, conf, cache_dir) if unlabelled else {}
    from_pseudo = {f.name for f in unlabelled}

    images, boxes, names, skipped = [], [], [], []
    counts = LabelCounts()
    for f in files:
        try:
            rgb = read_image(f)
        except UserError as err:  # its message names the file and says why (not an image, too large...)
            print(f"warning: skipping unreadable image {err}", file=sys.stderr)
            skipped.append(str(f))
            continue
        boxed = letterbox(rgb, imgsz)
        h, w = rgb.shape[:2]
        if f.name in from_pseudo:
            original = pseudo.get(f.name, [])
        else:
            original = read_yolo_labels(label_path(f), class_ids, w, h, counts)
        xyxy = boxed.to_letterboxed(np.asarray(original, np.float32).reshape(-1, 4))
        if min_box_frac > 0 and len(xyxy):
            diag = np.hypot(xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1])
            xyxy = xyxy[diag >= min_box_frac * imgsz]
        images.append(torch.from_numpy(boxed.image).permute(2, 0, 1))
        boxes.append(xyxy)
        names.append(f.name)
    if not images:
        raise UserError(f"none of the {len(files)} images in {folder} could be read")
    n_max = max(1, max(len(b) for b in boxes))
    if max_targets:
        n_max = min(n_max, max_targets)
    box_tensor = torch.zeros(len(images), n_max, 4)
    mask = torch.zeros(len(images), n_max, dtype=torch.bool)
    for i, b in enumerate(boxes):
        area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        b = b[np.argsort(-area)][:n_max]
        box_tensor[i, : len(b)] = torch.from_numpy(b)
        mask[i, : len(b)] = True
    scenes = Scenes(torch.stack(images), box_tensor, mask, names)
    pseudo_labelled = sum(name in from_pseudo for name in names)
    report = LoadReport(len(images), skipped, int(mask.sum()), label_files=len(images) - pseudo_labelled,
                        pseudo_labelled=pseudo_labelled, bad_label_lines=counts.bad_lines,
                        clipped_boxes=counts.clipped)
    if not quiet:
        print(f"data: {folder}: {report.summary()}", file=sys.stderr)
    return scenes, report


def cache_root(cache_dir=None) -> Path:
    return Path(cache_dir or os.environ.get("PATCHGEN_CACHE") or Path.home() / ".cache" / "patchgen")


def pseudo_labels(files, victim, imgsz, class_ids, conf, cache_dir=None) -> dict:
    """Boxes the clean victim finds (original pixels), made once and cached by victim, images and settings."""
    key = hashlib.sha256()
    key.update(f"{victim.name}|{imgsz}|{sorted(class_ids)}|{conf}".encode())
    for f in files:
        stat = f.stat()
        key.update(f"{f.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    cache = cache_root(cache_dir) / "pseudo_labels" / f"{key.hexdigest()[:16]}.json"
    if cache.is_file():
        return json.loads(cache.read_text())
    labels = {}
    for f in files:
        rgb = read_rgb(f)
        if rgb is None:
            continue
        dets = victim.detect_rgb(rgb, conf=conf, imgsz=imgsz)
        labels[f.name] = dets[np.isin(dets[:, 5], class_ids), :4].round(2).tolist()
    atomic_write_json(cache, labels)
    return labels
