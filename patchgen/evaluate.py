"""Digital evaluation: CLEAN / NOISE (a random patch at the same placement) / ADV, scored as AP@0.5 against the
labels (patch on each label) and against the clean detector's own boxes (Thys et al.'s protocol: patch on each clean
detection, so people the labels miss are patched too), and recall at confidence 0.25."""

import html
import json
import os
import sys
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from patchgen import eot
from patchgen.atomic import atomic_save
from patchgen.average_precision import average_precision, recall_at
from patchgen.data import Scenes
from patchgen.errors import UserError, require_folder

CONDITIONS = ("clean", "noise", "adv")
CLEAN_REFERENCE_CONF = 0.25  # clean detections at or above this confidence are the 'clean' reference boxes
RECALL_CONF = 0.25
COLUMNS = {"ap50_labels": "AP@0.5 vs labels", "recall25": "recall@0.25 vs labels",
           "ap50_clean": "AP@0.5 vs clean detections", "recall25_clean": "recall@0.25 vs clean detections"}


@dataclass
class Evaluation:
    table: dict  # condition -> {ap50_labels, recall25, ap50_clean, recall25_clean}
    detections: dict = field(repr=False, default_factory=dict)  # condition -> per-image (n,6) arrays
    images: dict = field(repr=False, default_factory=dict)  # condition -> first few rendered images (uint8)


def paste(scenes, image, mask, scale, anchor_y):
    """The artifact exactly at its placement on every target (no EOT randomness)."""
    params = eot.identity(scenes.mask.numel(), image.shape[-1], scenes.images.device)
    return eot.render(image, mask, scenes, params, scale, anchor_y)


@torch.no_grad()
def evaluate(victim, scenes, artifact, class_ids, scale=0.2, anchor_y=0.4, batch=8, seed=0,
             patch_transform=None, keep_images=4, progress=True, conditions=CONDITIONS) -> Evaluation:
    """artifact: a Patch; patch_transform: optional callable on its (3,S,S) image (e.g. a simulated print)."""
    check_batch(batch)
    conditions = [c for c in CONDITIONS if c in conditions]  # clean first: the other passes need its boxes
    device = scenes.images.device
    adv_image = artifact().detach()
    adv_image = patch_transform(adv_image) if patch_transform else adv_image
    generator = torch.Generator(device).manual_seed(seed)
    noise_image = torch.rand(adv_image.shape, generator=generator, device=device)
    patches = {"noise": noise_image, "adv": adv_image}
    detections = {c: [] for c in conditions}
    detections_on_clean = {c: [] for c in conditions}
    shown = {c: [] for c in conditions}
    total = len(scenes)
    bar = tqdm(total=total * len(conditions), desc="eval", disable=not progress, file=sys.stderr, dynamic_ncols=True)
    for start in range(0, total, batch):
        index = torch.arange(start, min(start + batch, total), device=device)
        part = scenes.batch(index)
        on_clean = None
        for condition in conditions:
            images = part.images if condition == "clean" else paste(part, patches[condition], artifact.mask,
                                                                    scale, anchor_y)
            detections[condition].extend(detect_class(victim, images, class_ids))
            if len(shown[condition]) < keep_images:
                take = images[: keep_images - len(shown[condition])]
                shown[condition].extend((take.permute(0, 2, 3, 1).cpu().numpy() * 255).astype(np.uint8))
            if condition == "clean":  # Thys et al.'s protocol: the patch on every clean detection, labelled or not
                on_clean = on_boxes(part, detections["clean"][start:])
            elif on_clean is not None:
                images = paste(on_clean, patches[condition], artifact.mask, scale, anchor_y)
                detections_on_clean[condition].extend(detect_class(victim, images, class_ids))
            bar.update(len(index))
    bar.close()
    labels = [b[m].cpu().numpy() for b, m in zip(scenes.boxes, scenes.mask)]
    table = {}
    clean_reference = None
    if "clean" in detections:
        clean_reference = [d[d[:, 4] >= CLEAN_REFERENCE_CONF] for d in detections["clean"]]
    for condition in conditions:
        dets = detections[condition]
        row = {"ap50_labels": average_precision(dets, labels), "recall25": recall_at(dets, labels, RECALL_CONF)}
        if clean_reference is not None:
            on_clean = dets if condition == "clean" else detections_on_clean[condition]
            row["ap50_clean"] = average_precision(on_clean, clean_reference)
            row["recall25_clean"] = recall_at(on_clean, clean_reference, RECALL_CONF)
        table[condition] = {k: round(v, 4) for k, v in row.items()}
    return Evaluation(table, detections, shown)


def detect_class(victim, images, class_ids) -> list[np.ndarray]:
    """Per image, the (n,6) detections of the target classes down to confidence 0.001 (for AP)."""
    wanted = torch.tensor(class_ids, device=images.device)
    return [d[torch.isin(d[:, 5].long(), wanted)].cpu().numpy() for d in victim.detect(images, conf=0.001, iou=0.6)]


def on_boxes(part, detections) -> Scenes:
    """The same images with the clean detections at or above CLEAN_REFERENCE_CONF as the target boxes."""
    refs = [torch.as_tensor(d[d[:, 4] >= CLEAN_REFERENCE_CONF, :4]) for d in detections]
    slots = max(1, max(len(r) for r in refs))
    boxes = torch.zeros(len(refs), slots, 4, device=part.images.device)
    mask = torch.zeros(len(refs), slots, dtype=torch.bool, device=part.images.device)
    for i, r in enumerate(refs):
        boxes[i, : len(r)] = r.to(boxes)
        mask[i, : len(r)] = True
    return Scenes(part.images, boxes, mask, part.names)


def markdown_table(table: dict, title: str = "") -> str:
    lines = [f"### {title}", ""] if title else []
    lines += ["| condition | " + " | ".join(COLUMNS.values()) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for condition, row in table.items():
        cells = [row.get(k, float("nan")) for k in COLUMNS]
        lines.append(f"| {condition.upper()} | " + " | ".join(f"{v:.3f}" for v in cells) + " |")
    return "\n".join(lines) + "\n"


def detection_grid(evaluation: Evaluation, names: list[str], conf: float = RECALL_CONF) -> np.ndarray:
    """Rows: example images; columns: CLEAN / NOISE / ADV with the victim's boxes drawn (RGB uint8)."""
    rows = []
    conditions = list(evaluation.images)
    for i in range(min(len(v) for v in evaluation.images.values())):
        cells = []
        for condition in conditions:
            cell = np.ascontiguousarray(evaluation.images[condition][i].copy())
            for x1, y1, x2, y2, score, cls in evaluation.detections[condition][i]:
                if score < conf:
                    continue
                p1, p2 = (int(x1), int(y1)), (int(x2), int(y2))
                cv2.rectangle(cell, p1, p2, (255, 40, 40), 2)
                cv2.putText(cell, f"{names[int(cls)]} {score:.2f}", (p1[0] + 2, max(12, p1[1] + 12)),
                            cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 0), 1, cv2.LINE_AA)
            cv2.putText(cell, condition.upper(), (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2)
            cells.append(cell)
        rows.append(np.concatenate(cells, 1))
    return np.concatenate(rows, 0)


def write_report(out_dir, evaluation: Evaluation, names, meta: dict, extra_images=()) -> Path:
    """results.json, results.md, grid.png and report.html in out_dir, all four or none: each is rendered in
    memory first, then all are staged beside their places before any replaces its old version, so a failure
    at any point leaves the previous evaluation whole."""
    out_dir = Path(out_dir)
    results = json.dumps({**meta, "results": evaluation.table}, indent=2) + "\n"
    md = markdown_table(evaluation.table, f"{meta.get('victim', '')} on {meta.get('data', '')}")
    ok, grid = cv2.imencode(".png", detection_grid(evaluation, names)[:, :, ::-1])
    if not ok:
        raise RuntimeError("OpenCV could not encode the detection grid as PNG")
    files = {"results.json": results.encode(), "results.md": md.encode(), "grid.png": grid.tobytes(),
             "report.html": report_page(evaluation, meta, extra_images).encode()}
    try:
        write_together([(out_dir / name, data) for name, data in files.items()])
    except OSError as err:
        raise UserError(f"cannot write the evaluation into {out_dir}: {err.strerror or err}") from None
    return out_dir / "report.html"


def write_together(files) -> None:
    """[(path, bytes)]: each written to a temporary file beside its path, and only once all are written are
    they moved into place (atomic_save nested: the outer replace waits on every inner write)."""
    if not files:
        return
    (path, data), *rest = files

    def write(tmp):
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        write_together(rest)

    atomic_save(path, write)


def report_page(evaluation: Evaluation, meta: dict, extra_images=()) -> str:
    header = "".join(f"<th>{h}</th>" for h in ("condition", *COLUMNS.values()))
    rows = "".join(f"<tr><td>{c.upper()}</td>" + "".join(f"<td>{r.get(k, float('nan')):.3f}</td>" for k in COLUMNS)
                   + "</tr>" for c, r in evaluation.table.items())
    facts = "".join(f"<li><b>{html.escape(str(k))}</b>: {html.escape(str(v))}</li>" for k, v in meta.items())
    figures = "".join(f'<figure><img src="{html.escape(src)}" style="max-width:100%"><figcaption>'
                      f"{html.escape(caption)}</figcaption></figure>" for src, caption in extra_images)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>patchgen evaluation</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}td,th{{padding:4px 12px;border-bottom:1px solid #ddd}}</style>
</head><body><h1>patchgen evaluation</h1><ul>{facts}</ul>
<table><tr>{header}</tr>{rows}</table>
<p>CLEAN: no patch. NOISE: a uniform-random patch of the same shape at the same placement. ADV: the trained patch.
Against labels the patch sits on each labelled target; against clean detections (Thys et al.'s protocol) it sits on
each clean detection at confidence &ge; {CLEAN_REFERENCE_CONF}.</p>
{figures}<figure><img src="grid.png" style="max-width:100%"><figcaption>Detections (confidence &ge; {RECALL_CONF})
</figcaption></figure></body></html>"""


def check_batch(batch) -> int:
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise UserError(f"--batch must be a whole number of images, at least 1; got {batch!r}")
    return batch


def evaluate_run(run_dir, data=None, labels=None, out=None, batch=8, patch_transform=None, progress=True):
    """Evaluate a run directory's patch with its own victim, classes and placement; writes out (run/eval).
    Every argument is checked before the victim loads; the results replace the old ones only when complete."""
    from patchgen.config import load_config
    from patchgen.data import list_images
    from patchgen.run_lock import run_lock

    check_batch(batch)
    run_dir = require_folder(run_dir, "run directory")
    if not (run_dir / "config.yaml").is_file():
        raise UserError(f"not a run directory (no config.yaml): {run_dir}")
    out = Path(out) if out else run_dir / "eval"
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder")
    config = load_config(run_dir / "config.yaml")
    folder = Path(os.path.abspath(data or config.data.val or config.data.train))  # said in full: which one was read
    list_images(folder)
    inside_run = out.absolute().is_relative_to(run_dir.absolute())
    with run_lock(run_dir) if inside_run else nullcontext():  # RUN/eval: no training writes the run meanwhile
        return _evaluate_into(run_dir, config, folder, out, labels, batch, patch_transform, progress)


def _evaluate_into(run_dir, config, folder, out, labels, batch, patch_transform, progress):
    from patchgen.artifacts import load_patch
    from patchgen.data import load_scenes
    from patchgen.train import resolve_device
    from patchgen.victims import load_victim

    patch = load_patch(run_dir)
    device = resolve_device(config.train.device)
    victim = load_victim(config.victim, device, config.imgsz or None)
    class_ids = [victim.class_id(c) for c in config.target_classes]
    scenes, report = load_scenes(folder, victim.imgsz, class_ids, victim=victim, labels=labels or config.data.labels,
                                 conf=config.data.pseudo_conf)
    evaluation = evaluate(victim, scenes.to(device), patch.to(device), class_ids, config.placement.scale,
                          config.placement.anchor_y, batch=batch, patch_transform=patch_transform, progress=progress)
    meta = {"victim": config.victim, "data": str(folder), **report.to_dict(), "imgsz": victim.imgsz,
            "target_classes": config.target_classes, "placement_scale": config.placement.scale}
    extra = [(str(Path("..") / name), caption) for name, caption in
             (("patch.png", "the patch"), ("loss.png", "training loss")) if (run_dir / name).exists()]
    write_report(out, evaluation, victim.names, meta, extra if out == run_dir / "eval" else ())
    print(markdown_table(evaluation.table), file=sys.stderr)
    print(f"eval: {folder}: wrote {out}/report.html", file=sys.stderr)
    return evaluation
