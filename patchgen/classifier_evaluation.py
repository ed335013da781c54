"""Digital evaluation of a classifier artifact (Brown et al. 2017's protocol): top-1 accuracy with no patch
(CLEAN), with a uniform-random patch of the same mask and size (NOISE, the occlusion control) and with the artifact
(ADV), each patch at the same random place and rotation per image; and the goal's success rate (targeted: top-1
is the goal class; untargeted: top-1 is not the true class)."""

import sys

import cv2
import numpy as np
import torch
from tqdm import tqdm

from patchgen.evaluation import CONDITIONS, Evaluation, check_batch, condition_artifacts, paste

COLUMNS = {"top1": "top-1 accuracy", "goal_rate": "goal success"}
NOTE = ("CLEAN: no patch. NOISE: a uniform-random patch of the same mask and size. ADV: the trained patch. Both "
        "patches sit at the same random place and rotation in each image. Goal success: targeted, the share of "
        "images classified as the goal class; untargeted, the share no longer classified as their true class.")


@torch.no_grad()
def evaluate_classifier(victim, scenes, artifact, placement, goal, batch=32, seed=0, patch_transform=None,
                        keep_images=8, progress=True) -> Evaluation:
    check_batch(batch)
    device = scenes.images.device
    generator = torch.Generator(device).manual_seed(seed)
    patches = condition_artifacts(artifact, generator)
    transforms = {"noise": None, "adv": patch_transform}
    correct = {c: [] for c in CONDITIONS}
    hits = {c: [] for c in CONDITIONS}
    shown = {c: [] for c in CONDITIONS}
    total = len(scenes)
    bar = tqdm(total=total * len(CONDITIONS), desc="eval", disable=not progress, file=sys.stderr, dynamic_ncols=True)
    for start in range(0, total, batch):
        part = scenes.batch(torch.arange(start, min(start + batch, total), device=device))
        params = placement.evaluation_params(len(part), generator, artifact.tiled)
        placed = placement.place(part, params)
        for condition in CONDITIONS:
            images = part.images if condition == "clean" else paste(part.images, patches[condition], placed, params,
                                                                    transforms[condition])
            logits = victim(images)
            correct[condition].append((logits.argmax(1) == part.labels).cpu())
            hits[condition].append(goal.succeeded(logits, part, placed).cpu())
            if len(shown[condition]) < keep_images:
                take = min(keep_images - len(shown[condition]), len(images))
                pixels = (images[:take].permute(0, 2, 3, 1).cpu().numpy() * 255).astype(np.uint8)
                probs = logits[:take].softmax(1).cpu().numpy()
                shown[condition].extend(zip(pixels, probs, part.labels[:take].tolist()))
            bar.update(len(part))
    bar.close()
    table = {}
    for condition in CONDITIONS:
        row = {"top1": float(torch.cat(correct[condition]).float().mean())}
        if condition != "clean":
            row["goal_rate"] = float(torch.cat(hits[condition]).float().mean())
        table[condition] = {k: round(v, 4) for k, v in row.items()}
    grid = prediction_grid(shown, victim.names) if keep_images else None
    return Evaluation(table, COLUMNS, grid, note=NOTE)


def prediction_grid(shown: dict, names: list[str], cell: int = 160) -> np.ndarray:
    """Rows: example images; columns: CLEAN / NOISE / ADV, each with its top-1 class and probability (green when
    it is the true class, red when not)."""
    rows = []
    for i in range(min(len(v) for v in shown.values())):
        cells = []
        for condition, examples in shown.items():
            pixels, probs, label = examples[i]
            image = cv2.resize(pixels, (cell, cell), interpolation=cv2.INTER_NEAREST if pixels.shape[0] < cell
                               else cv2.INTER_AREA)
            top = int(probs.argmax())
            colour = (60, 220, 60) if top == label else (255, 60, 60)
            canvas = np.full((cell + 34, cell, 3), 255, np.uint8)
            canvas[:cell] = image
            cv2.putText(canvas, condition.upper(), (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 2)
            cv2.putText(canvas, f"{names[top][:20]}", (4, cell + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, 1,
                        cv2.LINE_AA)
            cv2.putText(canvas, f"{probs[top]:.2f} (true: {names[label][:12]})", (4, cell + 29),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.35, (80, 80, 80), 1, cv2.LINE_AA)
            cells.append(canvas)
        rows.append(np.concatenate(cells, 1))
    return np.concatenate(rows, 0)
