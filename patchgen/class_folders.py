"""Classifier data: images with one class each, from class subfolders (`cat/0001.jpg`, the folder named by a
class name of the victim, its index or, for ImageNet victims, its WordNet id) or from a flat folder with
`labels.tsv` (file, class_index[, wnid or class name]),
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
TSV_IMAGES = "images"  # a labels.tsv's images may sit in images/ beside it
CENTRE_CROP_FROM = 64  # ImageNet-style inputs: resize then centre-crop; tiny inputs (CIFAR 32 px) were never cropped
RESIZE_RATIO = 256 / 224  # the ImageNet evaluation protocol: shorter side to 256, centre 224 x 224
# files already named in a warning by this process: `patchgen train` reads the folder again to evaluate, and each
# unreadable file is said once (the data line still counts them at every read)
warned: set[Path] = set()


@dataclass
class ClassReport:
    images: int
    skipped: list[str]  # unreadable files (relative to the folder), each with a warning; counted in to_dict
    classes: int  # distinct classes among the loaded images

    def to_dict(self) -> dict:
        return {"images": self.images, "skipped": len(self.skipped), "classes": self.classes}

    def summary(self) -> str:
        skipped = f", {len(self.skipped)} unreadable images skipped" if self.skipped else ""
        return f"{self.images} images of {self.classes} classes{skipped}"


def load_class_images(folder, victim, exclude_classes=(), quiet: bool = False) -> tuple[Scenes, ClassReport]:
    """Every labelled image as (B,3,S,S) uint8 at the victim's input size, with boxes [0,0,S,S], labels (B,) and
    names relative to `folder`. `exclude_classes`: class ids left out (a targeted attack skips its own class)."""
    folder = check_class_folder(Path(folder).expanduser())
    excluded = {int(c) for c in exclude_classes}
    found = labelled_files(folder, victim)
    labelled = [(f, c) for f, c in found if c not in excluded]
    size = int(victim.imgsz)
    images, labels, names, skipped = [], [], [], []
    for path, class_id in labelled:
        name = path.relative_to(folder).as_posix()
        try:
            rgb = read_image(path)
        except UserError as err:  # its message names the file and says why
            if path not in warned:
                print(f"warning: skipping unreadable image {err}", file=sys.stderr)
                warned.add(path)
            skipped.append(name)
            continue
        images.append(torch.from_numpy(prepare(rgb, size)).permute(2, 0, 1))
        labels.append(class_id)
        names.append(name)
    if not images:
        raise UserError(nothing_loaded(folder, victim, found, labelled, excluded))
    count = len(images)
    scenes = Scenes(torch.stack(images), torch.tensor([[[0.0, 0.0, size, size]]]).repeat(count, 1, 1),
                    torch.ones(count, 1, dtype=torch.bool), names, torch.tensor(labels, dtype=torch.long))
    report = ClassReport(count, skipped, len(set(labels)))
    if not quiet:
        print(f"data: {folder}: {report.summary()}", file=sys.stderr)
    return scenes, report


def nothing_loaded(folder: Path, victim, found: list, labelled: list, excluded: set) -> str:
    """Why no image loaded, and what to do: none listed, all of the excluded (goal) class, or none readable."""
    if not found:
        where = f"its {LABELS_FILE} lists none" if (folder / LABELS_FILE).is_file() else \
            f"its class folders hold no image files ({', '.join(sorted(IMAGE_SUFFIXES))})"
        return f"no images in {folder}: {where}; add each class's images"
    if not labelled:
        shown = ", ".join(repr(victim.names[c]) for c in sorted(excluded))
        return (f"every image in {folder} is of class {shown}, the goal class, and a targeted attack leaves those out "
                "(one already of the goal class is no success of the patch): add images of other classes")
    return (f"none of the {len(labelled)} images to load from {folder} could be read (each is named in a warning "
            "above): replace them with readable image files")


def check_class_folder(folder) -> Path:
    """A folder a classifier can read, before any model loads: class subfolders or a labels.tsv (not both), and
    not a detector's images/ + labels/."""
    folder = require_folder(folder, "image folder")
    classes = class_folders(folder)
    if (folder / LABELS_FILE).is_file():
        beside = [d.name for d in classes if d.name != TSV_IMAGES and holds_images(d)]
        if beside:
            shown = ", ".join(beside[:3]) + (", ..." if len(beside) > 3 else "")
            raise UserError(f"{folder} has both a {LABELS_FILE} and class folders ({shown}): patchgen reads one of "
                            f"them, so move one away")
        return folder
    labels_dir = folder / "labels"
    if labels_dir.is_dir() and any(labels_dir.glob("*.txt")):
        raise UserError(f"{folder} is a detector's folder (images/ and labels/ with YOLO .txt files); a classifier "
                        f"reads one subfolder per class (cat/0001.jpg, named by class name, index or ImageNet wnid) "
                        f"or images with a {LABELS_FILE} (file<TAB>class_index)")
    if not classes:
        raise UserError(f"{folder} has neither class subfolders nor a {LABELS_FILE}: put each class's images in a "
                        f"subfolder named by the class (cat/0001.jpg), or list them in {LABELS_FILE} "
                        "(file<TAB>class_index)")
    return folder


def class_folders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def holds_images(folder: Path) -> bool:
    return any(f.suffix.lower() in IMAGE_SUFFIXES for f in folder.iterdir())


def labelled_files(folder: Path, victim) -> list[tuple[Path, int]]:
    """(image, class id) pairs from labels.tsv where there is one, else from the class subfolders (named by class
    name, index, or for ImageNet victims WordNet id)."""
    if (folder / LABELS_FILE).is_file():
        return read_labels_tsv(folder / LABELS_FILE, victim)
    pairs = []
    for class_dir in class_folders(folder):
        try:
            class_id = victim.class_id(class_dir.name)
        except UserError as err:
            raise UserError(f"class folder {class_dir}: {err}") from None
        pairs += [(f, class_id) for f in sorted(class_dir.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
    return pairs


def read_labels_tsv(path: Path, victim) -> list[tuple[Path, int]]:
    """Rows `file<TAB>class_index[<TAB>wnid or class name]` after a header row; files beside it (or in images/
    beside it). The third column, where given, must name the index's class: a label file made for another label
    space (ImageNet indices read by a CIFAR model) is refused, not read as if its indices were the victim's."""
    images_dir = path.parent / TSV_IMAGES if (path.parent / TSV_IMAGES).is_dir() else path.parent
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: cannot be read ({getattr(err, 'strerror', None) or err})") from None
    if not lines or tuple(lines[0].split("\t")[:2]) != LABELS_HEADER:
        raise UserError(f"{path}:1: the first line must be the header 'file<TAB>class_index' (an optional third "
                        "column, wnid or class name, is checked against the index)")
    classes = len(victim.names)
    pairs, first_line = [], {}
    for number, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        fields = line.split("\t")
        index = int(fields[1]) if len(fields) > 1 and fields[1].strip().isdigit() else None
        if index is not None and len(fields) > 2 and fields[2].strip():  # first: it tells a foreign label space
            check_named_class(victim, index, fields[2].strip(), f"{path}:{number}")
        if index is None or index >= classes:
            shown = fields[1] if len(fields) > 1 else "nothing"
            raise UserError(f"{path}:{number}: the class index must be a whole number 0 to {classes - 1}, "
                            f"found {shown!r}")
        if fields[0] in first_line:
            raise UserError(f"{path}:{number}: {fields[0]!r} is listed again (first on line {first_line[fields[0]]}): "
                            "give each image one row")
        first_line[fields[0]] = number
        image = images_dir / fields[0]
        if not image.is_file():
            raise UserError(f"{path}:{number}: image {fields[0]!r} not found in {images_dir}")
        pairs.append((image, index))
    return pairs


def check_named_class(victim, index: int, named: str, where: str) -> None:
    """The row's third column (a wnid or a class name) names the same class as its index, for this victim (an
    index out of range is left to the caller's message)."""
    if victim.foreign_wnid(named):
        raise UserError(f"{where}: the third column holds ImageNet WordNet ids ({named!r}): these labels are "
                        f"ImageNet's, and {victim.name}'s classes are others ({victim.known_classes()}); use a "
                        f"{LABELS_FILE} made for its classes")
    try:
        same = victim.class_id(named) == index
    except UserError as err:
        raise UserError(f"{where}: {err}") from None
    if not same and index < len(victim.names):
        raise UserError(f"{where}: class index {index} is {victim.describe_class(index)!r} for {victim.name}, but "
                        f"the row names {named!r}: fix the index or the name, or use a {LABELS_FILE} made for "
                        "this victim's classes")


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
