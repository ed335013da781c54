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
from patchgen.image_io import read_image
from patchgen.letterbox import letterbox

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


@dataclass
class Scenes:
    """A batch (or a whole set) of scenes: images (B,3,S,S) in [0,1] and padded target boxes (B,N,4) xyxy px."""

    images: torch.Tensor
    boxes: torch.Tensor
    mask: torch.Tensor  # (B,N) bool: which box slots hold a target
    names: list[str]

    def __len__(self):
        return self.images.shape[0]

    def to(self, device) -> "Scenes":
        return Scenes(self.images.to(device), self.boxes.to(device), self.mask.to(device), self.names)

    def subset(self, idx: torch.Tensor) -> "Scenes":
        return Scenes(self.images[idx], self.boxes[idx], self.mask[idx], [self.names[i] for i in idx.tolist()])

    def max_diagonal(self) -> float:
        boxes = self.boxes[self.mask]
        return float(torch.hypot(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]).max()) if len(boxes) else 1.0

    def batch(self, idx: torch.Tensor) -> "Scenes":
        """Images as float [0,1] for the selected indices (stored as uint8 to keep sets small)."""
        return Scenes(self.images[idx].float() / 255, self.boxes[idx], self.mask[idx], self.names)


def crop_around_targets(scenes: Scenes, size: int, anchor_y: float = 0.4) -> Scenes:
    """size x size windows of each image, centred on its largest target's torso and kept inside the image.
    Training on them sees every person at the full input's pixel scale for a fraction of the compute. Boxes
    keep their true extent (they may reach past the window): placement is sized from the whole box."""
    full = scenes.images.shape[-1]
    if not 32 <= size <= full or size % 32:
        raise UserError(f"data.crop must be a multiple of 32 between 32 and the input size {full}, got {size}")
    first = scenes.boxes[:, 0]  # slots are sorted largest first
    cx = (first[:, 0] + first[:, 2]) / 2
    cy = first[:, 1] + anchor_y * (first[:, 3] - first[:, 1])
    x0 = (cx - size / 2).round().clamp(0, full - size).long()
    y0 = (cy - size / 2).round().clamp(0, full - size).long()
    images = torch.stack([img[:, y : y + size, x : x + size] for img, x, y in zip(scenes.images, x0.tolist(),
                                                                                  y0.tolist())])
    shift = torch.stack([x0, y0, x0, y0], 1).to(scenes.boxes.dtype)[:, None, :]
    return Scenes(images, scenes.boxes - shift, scenes.mask.clone(), scenes.names)


@dataclass
class LoadReport:
    loaded: int
    skipped: list[str]
    targets: int
    label_source: str

    def to_dict(self) -> dict:
        """What a run's sidecar and an evaluation record say about the data."""
        return {"images": self.loaded, "skipped": len(self.skipped), "targets": self.targets,
                "labels": self.label_source}


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


def read_yolo_labels(path: Path, class_ids, width: int, height: int) -> np.ndarray:
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    boxes = [[float(v) for v in row[1:5]] for row in rows if len(row) >= 5 and int(float(row[0])) in class_ids]
    if not boxes:
        return np.zeros((0, 4), np.float32)
    cx, cy, w, h = np.asarray(boxes, np.float32).T
    return np.stack([(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height], 1)


def load_scenes(folder, imgsz: int, class_ids, victim=None, labels: str = "auto", max_targets: int = 0,
                min_box_frac: float = 0.0, cache_dir=None, conf: float = 0.25, quiet: bool = False):
    """Load a folder into Scenes. labels: 'auto' (YOLO files where present, else pseudo-labels), 'files' or
    'pseudo'. Label files use the victim's class numbering; boxes of `class_ids` are targets.
    Corrupt images are skipped with one warning line each. max_targets keeps the largest boxes."""
    class_ids = tuple(int(c) for c in class_ids)
    if labels not in ("auto", "files", "pseudo"):
        raise UserError(f"labels must be auto, files or pseudo, not {labels!r}")
    files = list_images(folder)
    have_files = all(label_path(f).is_file() for f in files)
    use_files = labels == "files" or (labels == "auto" and have_files)
    if use_files and not have_files:
        missing = next(f for f in files if not label_path(f).is_file())
        raise UserError(f"no label file for {missing} (expected {label_path(missing)})")
    if not use_files and victim is None:
        raise UserError("pseudo-labels need a victim")
    pseudo = None if use_files else pseudo_labels(files, victim, imgsz, class_ids, conf, cache_dir)

    images, boxes, names, skipped = [], [], [], []
    for f in files:
        rgb = read_rgb(f)
        if rgb is None:
            print(f"warning: skipping unreadable image {f}", file=sys.stderr)
            skipped.append(str(f))
            continue
        boxed = letterbox(rgb, imgsz)
        h, w = rgb.shape[:2]
        original = read_yolo_labels(label_path(f), class_ids, w, h) if use_files else pseudo.get(f.name, [])
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
    report = LoadReport(len(images), skipped, int(mask.sum()), "files" if use_files else "pseudo")
    if not quiet:
        print(f"data: {folder}: {report.loaded} images, {report.targets} targets ({report.label_source} labels)"
              + (f", {len(skipped)} skipped" if skipped else ""), file=sys.stderr)
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
