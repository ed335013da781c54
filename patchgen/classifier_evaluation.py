"""Digital evaluation of a classifier artifact (Brown et al. 2017's protocol): top-1 accuracy with no patch
(CLEAN), with a uniform-random patch of the same mask and size (NOISE, the occlusion control) and with the artifact
(ADV), each patch at the same random place and rotation per image; and the goal's success rate over the images it
is judged on (goals/base.py: those where the goal had not already succeeded without a patch), with their count."""

import sys

import cv2
import numpy as np
import torch
from tqdm import tqdm

from patchgen.evaluation import CONDITIONS, Evaluation, check_batch, condition_artifacts, paste

COLUMNS = {"top1": "top-1 accuracy", "goal_rate": "goal success", "goal_judged": "images judged"}
NOTE = ("CLEAN: no patch. NOISE: a uniform-random patch of the same mask and size. ADV: the trained patch. Both "
        "patches sit at the same random place and rotation in each image. Goal success is taken over the images "
        "judged, those the patch could turn: untargeted, the images classified right with no patch, and the share "
        "of them no longer classified as their true class; targeted, the images not already classified as the "
        "goal class with no patch, and the share of them classified as it.")


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
    judged = []  # per image: does the goal's success rate count it (decided by the clean prediction)
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
            if condition == "clean":
                judged.append(goal.judged(logits, part, placed).cpu())
            correct[condition].append((logits.argmax(1) == part.labels).cpu())
            hits[condition].append(goal.succeeded(logits, part, placed).cpu())
            if len(shown[condition]) < keep_images:
                take = min(keep_images - len(shown[condition]), len(images))
                pixels = (images[:take].permute(0, 2, 3, 1).cpu().numpy() * 255).astype(np.uint8)
                probs = logits[:take].softmax(1).cpu().numpy()
                shown[condition].extend(zip(pixels, probs, part.labels[:take].tolist()))
            bar.update(len(part))
    bar.close()
    judged = torch.cat(judged)
    count = int(judged.sum())
    if not count:
        print(f"warning: goal success not measured: with no patch the victim's top-1 already met the goal on all "
              f"{total} images (untargeted: it got none right), so none is judged; check imgsz and that the data's "
              "labels are the victim's classes", file=sys.stderr)
    table = {}
    for condition in CONDITIONS:
        row = {"top1": round(float(torch.cat(correct[condition]).float().mean()), 4)}
        if condition != "clean" and count:
            row["goal_rate"] = round(float(torch.cat(hits[condition])[judged].float().mean()), 4)
        if condition != "clean":
            row["goal_judged"] = count
        table[condition] = row
    grid = prediction_grid(shown, victim.names) if keep_images else None
    return Evaluation(table, COLUMNS, grid, note=NOTE)


def prediction_grid(shown: dict, names: list[str], cell: int = 256) -> np.ndarray:
    """Rows: example images; columns: CLEAN / NOISE / ADV, each with its top-1 class and probability (green when
    it is the true class, red when not) and the true class beneath, in text sized to the cell (patchgen.plots)."""
    from patchgen.plots import annotator, title

    rows = []
    for i in range(min(len(v) for v in shown.values())):
        cells = []
        for condition, examples in shown.items():
            pixels, probs, label = examples[i]
            image = cv2.resize(pixels, (cell, cell), interpolation=cv2.INTER_NEAREST if pixels.shape[0] < cell
                               else cv2.INTER_AREA)
            top = int(probs.argmax())
            colour = (0, 150, 0) if top == label else (210, 30, 30)
            title(image, condition.upper())
            lines = (f"{names[top][:18]} {probs[top]:.2f}", f"true: {names[label][:18]}")
            drawer = annotator(image)
            (_, height), base = cv2.getTextSize(lines[0], 0, fontScale=drawer.sf, thickness=drawer.tf)
            step = height + base + drawer.lw
            canvas = np.full((cell + 2 * step + drawer.lw, cell, 3), 255, np.uint8)
            canvas[:cell] = image
            for k, (text, ink) in enumerate(zip(lines, (colour, (70, 70, 70)))):
                cv2.putText(canvas, text, (drawer.lw, cell + (k + 1) * step - base), 0, drawer.sf, ink, drawer.tf,
                            cv2.LINE_AA)
            cells.append(canvas)
        rows.append(np.concatenate(cells, 1))
    return np.concatenate(rows, 0)
