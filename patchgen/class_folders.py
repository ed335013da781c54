"""Classifier data: images with one class each, from class subfolders (`cat/0001.jpg`, the folder named by a
class name of the victim or its index) or from a flat folder with `labels.tsv` (file, class_index[, wnid]),
prepared the way the victim was evaluated and held as Scenes whose one "target" is the whole image."""

import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from patchgen.data import IMAGE_SUFFIXES, Scenes
from patchgen.errors import UserError, require_folder
from patchgen.image_io import read_image

LABELS_FILE = "labels.tsv"
LABELS_HEADER = ("file", "class_index")
CENTRE_CROP_FROM = 64  # ImageNet-style inputs: resize then centre-crop; tiny inputs (CIFAR 32 px) were never cropped
RESIZE_RATIO = 256 / 224  # the ImageNet evaluation protocol: shorter side to 256, centre 224 x 224


@dataclass
class ClassReport:
    images: int
    skipped: int  # unreadable files, each with a warning
    classes: int  # distinct classes among the loaded images

    def to_dict(self) -> dict:
        return {"images": self.images, "skipped": self.skipped, "classes": self.classes}

    def summary(self) -> str:
        skipped = f", {self.skipped} unreadable images skipped" if self.skipped else ""
        return f"{self.images} images of {self.classes} classes{skipped}"


def load_class_images(folder, victim, exclude_classes=(), quiet: bool = False) -> tuple[Scenes, ClassReport]:
    """Every labelled image as (B,3,S,S) uint8 at the victim's input size, with boxes [0,0,S,S], labels (B,) and
    names relative to `folder`. `exclude_classes`: class ids left out (a targeted attack skips its own class)."""
    folder = require_folder(Path(folder).expanduser(), "image folder")
    excluded = {int(c) for c in exclude_classes}
    labelled = [(f, c) for f, c in labelled_files(folder, victim) if c not in excluded]
    size = int(victim.imgsz)
    images, labels, names = [], [], []
    skipped = 0
    for path, class_id in labelled:
        try:
            rgb = read_image(path)
        except UserError as err:  # its message names the file and says why
            print(f"warning: skipping unreadable image {err}", file=sys.stderr)
            skipped += 1
            continue
        images.append(torch.from_numpy(prepare(rgb, size)).permute(2, 0, 1))
        labels.append(class_id)
        names.append(path.relative_to(folder).as_posix())
    if not images:
        what = f"{len(labelled)} images" if labelled else "images outside the excluded classes"
        raise UserError(f"no readable {what} in {folder}")
    count = len(images)
    scenes = Scenes(torch.stack(images), torch.tensor([[[0.0, 0.0, size, size]]]).repeat(count, 1, 1),
                    torch.ones(count, 1, dtype=torch.bool), names, torch.tensor(labels, dtype=torch.long))
    report = ClassReport(count, skipped, len(set(labels)))
    if not quiet:
        print(f"data: {folder}: {report.summary()}", file=sys.stderr)
    return scenes, report


def check_class_folder(folder) -> Path:
    """A folder a classifier can read (class subfolders or a labels.tsv), before any model loads."""
    folder = require_folder(folder, "image folder")
    if not (folder / LABELS_FILE).is_file() and not any(p.is_dir() for p in folder.iterdir()):
        raise UserError(f"{folder} has neither class subfolders nor a {LABELS_FILE}")
    return folder


def labelled_files(folder: Path, victim) -> list[tuple[Path, int]]:
    """(image, class id) pairs from labels.tsv where there is one, else from the class subfolders."""
    if (folder / LABELS_FILE).is_file():
        return read_labels_tsv(folder / LABELS_FILE, len(victim.names))
    class_dirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise UserError(f"{folder} has neither class subfolders nor a {LABELS_FILE}")
    pairs = []
    for class_dir in class_dirs:
        try:
            class_id = victim.class_id(class_dir.name)
        except UserError as err:
            raise UserError(f"class folder {class_dir}: {err}") from None
        pairs += [(f, class_id) for f in sorted(class_dir.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
    return pairs


def read_labels_tsv(path: Path, classes: int) -> list[tuple[Path, int]]:
    """Rows `file<TAB>class_index[<TAB>wnid]` after a header row; files beside it (or in images/ beside it)."""
    images_dir = path.parent / "images" if (path.parent / "images").is_dir() else path.parent
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: cannot be read ({getattr(err, 'strerror', None) or err})") from None
    if not lines or tuple(lines[0].split("\t")[:2]) != LABELS_HEADER:
        raise UserError(f"{path}:1: the first line must be the header 'file<TAB>class_index' (an optional third "
                        "column, e.g. wnid, is ignored)")
    pairs = []
    for number, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2 or not fields[1].strip().isdigit() or int(fields[1]) >= classes:
            shown = fields[1] if len(fields) > 1 else "nothing"
            raise UserError(f"{path}:{number}: the class index must be a whole number 0 to {classes - 1}, "
                            f"found {shown!r}")
        image = images_dir / fields[0]
        if not image.is_file():
            raise UserError(f"{path}:{number}: image {fields[0]!r} not found in {images_dir}")
        pairs.append((image, int(fields[1])))
    return pairs


def prepare(rgb: np.ndarray, size: int) -> np.ndarray:
    """(size,size,3) uint8 as the victim saw its evaluation images: for ImageNet-size inputs the shorter side to
    size*256/224 then the centre crop; small inputs resized whole."""
    if size < CENTRE_CROP_FROM:
        return resize(rgb, size, size)
    h, w = rgb.shape[:2]
    short = round(size * RESIZE_RATIO)
    scaled = resize(rgb, max(short, round(w * short / h)), max(short, round(h * short / w)))
    top, left = round((scaled.shape[0] - size) / 2), round((scaled.shape[1] - size) / 2)
    return np.ascontiguousarray(scaled[top : top + size, left : left + size])


def resize(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """Area averaging when shrinking (antialiased, as torchvision's Resize), bilinear when enlarging."""
    shrinking = width * height < rgb.shape[0] * rgb.shape[1]
    return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
