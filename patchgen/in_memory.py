"""Scenes from images held in memory (the Python API's `data=` tensors): each image is prepared exactly as a file
of the same pixels is (a detector's letterbox, a classifier's resize and crop), so a folder and the same images as
tensors evaluate alike. Images are (N,3,H,W) in [0,1]; labels as the family reads them: a classifier's (N,) class
indices; a detector's, per image, an (n,5) `class cx cy w h` tensor in fractions of the image (YOLO's label
lines) or None for the clean victim's boxes."""

import numpy as np
import torch

from patchgen.class_folders import prepare
from patchgen.data import Scenes, parse_label_line
from patchgen.errors import UserError
from patchgen.letterbox import letterbox


def check_images(images) -> torch.Tensor:
    """images as the API takes them, (N,3,H,W) floats in [0,1]; a UserError saying what to pass otherwise."""
    if not (torch.is_tensor(images) and images.dim() == 4 and images.shape[1] == 3 and images.is_floating_point()):
        shown = tuple(images.shape) if torch.is_tensor(images) else type(images).__name__
        raise UserError(f"pass images as a float tensor (N,3,H,W) with values in [0,1], got {shown}")
    if len(images) == 0:
        raise UserError("pass at least one image: the images tensor is empty")
    low, high = float(images.min()), float(images.max())
    if low < 0 or high > 1:
        raise UserError(f"pass images with values in [0,1], got {low:g} to {high:g}"
                        + (" (8-bit pixels: divide by 255)" if high > 1.5 else ""))
    return images


def rgb_images(images) -> list[np.ndarray]:
    """(N,3,H,W) floats in [0,1] -> N (H,W,3) uint8 arrays, rounded as an 8-bit image file stores them."""
    pixels = (check_images(images).detach().cpu().permute(0, 2, 3, 1) * 255).round().to(torch.uint8).numpy()
    return list(pixels)


def scenes_with_boxes(images: torch.Tensor, boxes: list, names: list[str]) -> Scenes:
    """Scenes whose per-image boxes ((n,4) x1,y1,x2,y2 px each, any n) are padded to one slot count, largest
    first as a folder's are, with a mask of the slots that hold one (at least one slot, maybe empty)."""
    device = images.device
    slots = max(1, max(len(b) for b in boxes))
    padded = torch.zeros(len(boxes), slots, 4, device=device)
    mask = torch.zeros(len(boxes), slots, dtype=torch.bool, device=device)
    for i, b in enumerate(boxes):
        b = torch.as_tensor(b, dtype=torch.float32, device=device).reshape(-1, 4)
        b = b[torch.argsort(-(b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]))]
        padded[i, : len(b)] = b
        mask[i, : len(b)] = True
    return Scenes(images, padded, mask, names)


def classifier_scenes(images, labels, victim, config) -> Scenes:
    """The images at the victim's input size with their classes; a goal aiming at a class leaves that class's
    images out, as a folder's loading does (one already of the goal class is no success of the patch)."""
    rgb = rgb_images(images)
    if labels is None:
        raise UserError("a classifier's images need their classes: pass data=(images, labels) with labels an (N,) "
                        "tensor of class indices")
    labels = torch.as_tensor(labels)
    classes = len(victim.names)
    if labels.shape != (len(rgb),) or labels.is_floating_point() or len(labels) and not (
            0 <= int(labels.min()) and int(labels.max()) < classes):
        raise UserError(f"pass labels as an (N,) tensor of whole class indices 0 to {classes - 1}, one per image "
                        f"({len(rgb)}); got {labels.dtype} of shape {tuple(labels.shape)}")
    from patchgen import registry

    keep = torch.ones(len(rgb), dtype=torch.bool)
    if registry.PLUGINS["goal"][config.goal].needs_class:
        keep = labels != victim.class_id(config.goal_class)
    if not keep.any():
        raise UserError(f"every image is of class {config.goal_class!r}, the goal class, and a targeted attack "
                        "leaves those out: pass images of other classes")
    size = int(victim.imgsz)
    kept = [i for i in range(len(rgb)) if keep[i]]
    prepared = torch.stack([torch.from_numpy(prepare(rgb[i], size)).permute(2, 0, 1) for i in kept])
    return Scenes(prepared, torch.tensor([[[0.0, 0.0, size, size]]]).repeat(len(kept), 1, 1),
                  torch.ones(len(kept), 1, dtype=torch.bool), [f"image {i}" for i in kept],
                  labels[keep].long())


def detector_scenes(images, labels, victim, config) -> Scenes:
    """The images letterboxed to the victim's input size with their target boxes: from the labels given, or for
    an image whose labels are None, the clean victim's boxes at data.pseudo_conf."""
    rgb = rgb_images(images)
    labels = [None] * len(rgb) if labels is None else list(labels)
    if len(labels) != len(rgb):
        raise UserError(f"pass labels as one entry per image ({len(rgb)}), each an (n,5) class cx cy w h tensor "
                        f"or None; got {len(labels)}")
    class_ids = [victim.class_id(c) for c in config.target_classes]
    boxed_images, boxes = [], []
    for i, (pixels, rows) in enumerate(zip(rgb, labels)):
        height, width = pixels.shape[:2]
        if rows is None:
            found = victim.detect_rgb(pixels, conf=config.data.pseudo_conf, imgsz=victim.imgsz)
            xyxy = found[np.isin(found[:, 5], class_ids), :4]
        else:
            xyxy = label_boxes(rows, class_ids, width, height, f"labels[{i}]")
        boxed = letterbox(pixels, victim.imgsz)
        boxed_images.append(torch.from_numpy(boxed.image).permute(2, 0, 1))
        boxes.append(torch.from_numpy(boxed.to_letterboxed(xyxy.reshape(-1, 4))))
    return scenes_with_boxes(torch.stack(boxed_images), boxes, [f"image {i}" for i in range(len(rgb))])


def label_boxes(rows, class_ids, width: int, height: int, where: str) -> np.ndarray:
    """(n,5) class cx cy w h fractions -> the target classes' boxes (m,4) x1,y1,x2,y2 in pixels, each row checked
    as a YOLO label file's line is."""
    table = torch.as_tensor(rows, dtype=torch.float64).cpu()
    if table.numel() and (table.dim() != 2 or table.shape[1] != 5):
        raise UserError(f"{where}: pass an (n,5) tensor of class cx cy w h (fractions of the image) per image, got "
                        f"shape {tuple(table.shape)}")
    boxes = []
    for j, row in enumerate(table.reshape(-1, 5).numpy()):
        parsed = parse_label_line(" ".join(f"{v:g}" for v in row))
        if isinstance(parsed, str):
            raise UserError(f"{where}[{j}] = {row.tolist()}: {parsed}")
        class_id, box, _ = parsed
        if class_id in class_ids:
            boxes.append(box * np.array([width, height, width, height], np.float32))
    return np.stack(boxes) if boxes else np.zeros((0, 4), np.float32)


SCENES = {"classifier": classifier_scenes, "detector": detector_scenes}  # by victim family
