"""Digital evaluation of a detector artifact: CLEAN / NOISE (a random patch at the same placement) / ADV, scored
as AP@0.5 against the labels (the artifact on each label) and against the clean detector's own boxes (Thys et al.'s
protocol: the artifact on each clean detection, so people the labels miss are patched too), recall at confidence
FOUND_CONF (0.25), and the goal's own success rate (vanish: targets not found; mislabel: found as the goal class;
appear: the artifact detected as the goal class)."""

import sys

import cv2
import numpy as np
import torch
from tqdm import tqdm

from patchgen.average_precision import average_precision, recall_at
from patchgen.data import Scenes
from patchgen.evaluation import CONDITIONS, Evaluation, check_batch, condition_artifacts, paste
from patchgen.goals.detector_match import AP_CONF
from patchgen.goals.thresholds import FOUND_CONF, FOUND_IOU

# clean detections at or above FOUND_CONF are the 'clean' reference boxes; recall counts those at or above it
COLUMNS = {"ap50_labels": f"AP@{FOUND_IOU} vs labels", "recall25": f"recall@{FOUND_CONF} vs labels",
           "ap50_clean": f"AP@{FOUND_IOU} vs clean detections",
           "recall25_clean": f"recall@{FOUND_CONF} vs clean detections", "goal_rate": "goal success"}


@torch.no_grad()
def evaluate(victim, scenes, artifact, class_ids, placement, goal=None, batch=8, seed=0, patch_transform=None,
             keep_images=4, progress=True, conditions=CONDITIONS) -> Evaluation:
    """artifact: any artifact kind (patchgen.artifacts); placement: a Placement (patchgen.placements.placement_for);
    goal: the run's Goal, for its success rate (None: AP and recall only); patch_transform: optional callable on
    what the artifact pastes, (3,S,S) or (n,3,S,S) (e.g. a simulated print)."""
    check_batch(batch)
    conditions = [c for c in CONDITIONS if c in conditions]  # clean first: the other passes need its boxes
    device = scenes.images.device
    generator = torch.Generator(device).manual_seed(seed)
    patches = condition_artifacts(artifact, generator)
    transforms = {"noise": None, "adv": patch_transform}
    wanted = torch.tensor(class_ids, device=device)
    detections = {c: [] for c in conditions}
    detections_on_clean = {c: [] for c in conditions}
    successes = {c: [] for c in conditions}
    shown = {c: [] for c in conditions}
    shown_found = {c: [] for c in conditions}  # every class, for the grid (mislabel and appear show the goal's)
    total = len(scenes)
    bar = tqdm(total=total * len(conditions), desc="eval", disable=not progress, file=sys.stderr, dynamic_ncols=True)
    for start in range(0, total, batch):
        index = torch.arange(start, min(start + batch, total), device=device)
        part = scenes.batch(index)
        params = placement.evaluation_params(len(part) * placement.slots(part), generator, artifact.tiled)
        placed = placement.place(part, params)  # the same places for NOISE and ADV
        on_clean = on_clean_placed = None
        for condition in conditions:
            images = part.images if condition == "clean" else paste(part.images, patches[condition], placed, params,
                                                                    transforms[condition])
            found = victim.detect(images, conf=AP_CONF, iou=0.6)
            detections[condition].extend(of_classes(found, wanted))
            if goal is not None:
                successes[condition].append(goal.succeeded(found, part, placed).cpu())
            if len(shown[condition]) < keep_images:
                take = images[: keep_images - len(shown[condition])]
                shown[condition].extend((take.permute(0, 2, 3, 1).cpu().numpy() * 255).astype(np.uint8))
                shown_found[condition].extend(d.cpu().numpy() for d in found[: len(take)])
            if condition == "clean":  # Thys et al.'s protocol: the patch on every clean detection, labelled or not
                on_clean = on_boxes(part, detections["clean"][start:])
                clean_params = placement.evaluation_params(len(part) * placement.slots(on_clean), generator,
                                                           artifact.tiled)
                on_clean_placed = (placement.place(on_clean, clean_params), clean_params)
            elif on_clean is not None:
                images = paste(on_clean.images, patches[condition], *on_clean_placed, transforms[condition])
                detections_on_clean[condition].extend(of_classes(victim.detect(images, conf=AP_CONF, iou=0.6), wanted))
            bar.update(len(index))
    bar.close()
    labels = [b[m].cpu().numpy() for b, m in zip(scenes.boxes, scenes.mask)]
    table = {}
    clean_reference = None
    if "clean" in detections:
        clean_reference = [d[d[:, 4] >= FOUND_CONF] for d in detections["clean"]]
    for condition in conditions:
        dets = detections[condition]
        row = {"ap50_labels": average_precision(dets, labels), "recall25": recall_at(dets, labels)}
        if clean_reference is not None:
            on_clean = dets if condition == "clean" else detections_on_clean[condition]
            row["ap50_clean"] = average_precision(on_clean, clean_reference)
            row["recall25_clean"] = recall_at(on_clean, clean_reference)
        if goal is not None and condition != "clean":  # CLEAN has no artifact to credit
            hits = torch.cat(successes[condition])
            row["goal_rate"] = float(hits.float().mean()) if len(hits) else float("nan")
        table[condition] = {k: round(v, 4) for k, v in row.items()}
    grid = detection_grid(shown, shown_found, victim.names) if keep_images else None
    return Evaluation(table, COLUMNS, grid, detections, NOTE)


NOTE = (f"CLEAN: no artifact. NOISE: a random artifact of the same kind and shape at the same placement (a patch or "
        f"sticker: uniform-random pixels; a texture: random values of the same grain; a camouflage: random blobs "
        f"of its palette). ADV: the trained artifact. Against labels the artifact sits on each labelled target; "
        f"against clean detections (Thys et al.'s protocol) on each clean detection at confidence >= "
        f"{FOUND_CONF}. Goal success: vanish, the share of targets no longer found; mislabel, of targets "
        f"found as the goal class; appear, of artifacts detected as the goal class (confidence >= {FOUND_CONF}).")


def of_classes(detections, wanted) -> list[np.ndarray]:
    """Per image, the (n,6) detections of the wanted classes, as arrays (for AP)."""
    return [d[torch.isin(d[:, 5].long(), wanted)].cpu().numpy() for d in detections]


def on_boxes(part, detections) -> Scenes:
    """The same images with the clean detections at or above FOUND_CONF as the target boxes."""
    refs = [torch.as_tensor(d[d[:, 4] >= FOUND_CONF, :4]) for d in detections]
    slots = max(1, max(len(r) for r in refs))
    boxes = torch.zeros(len(refs), slots, 4, device=part.images.device)
    mask = torch.zeros(len(refs), slots, dtype=torch.bool, device=part.images.device)
    for i, r in enumerate(refs):
        boxes[i, : len(r)] = r.to(boxes)
        mask[i, : len(r)] = True
    return Scenes(part.images, boxes, mask, part.names)


def detection_grid(shown: dict, detections: dict, names: list[str], conf: float = FOUND_CONF) -> np.ndarray:
    """Rows: example images; columns: CLEAN / NOISE / ADV with the victim's boxes drawn (RGB uint8)."""
    rows = []
    for i in range(min(len(v) for v in shown.values())):
        cells = []
        for condition, images in shown.items():
            cell = np.ascontiguousarray(images[i].copy())
            for x1, y1, x2, y2, score, cls in detections[condition][i]:
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
