"""Capture benchmark, classifier row: a printed classifier patch photographed on ImageNet pictures.

The patch is the one `benchmarks/attack_classifier.py` trains against MobileNetV2 (Brown et al.'s toaster),
committed as `patch.png` + `patch.json` (its sidecar: victim, goal, goal class, step) in one folder. It is exported
as `patchgen export` prints it (10 cm, A4, ArUco markers), and for each ImageNet holdout picture (those not of the
goal class), enlarged to 720 px high, its printout is warped at a random pose into the middle of the picture (where
the classifier's centre crop sees it), 0.28 of the height on a side: the 10 % of the victim's view it was trained
to cover. Each picture is photographed twice at the same pose, with the same lighting, blur, noise and JPEG: the
whole printout (markers), and with the markers cut away (found by the patch's own image). Each photo is scored as
`patchgen score` scores it (located, classified with and without the patch painted out, judged by the goal's
photo_verdict), and so is its digital twin: the same placement without lighting, blur, noise or JPEG, at the true
location. Figures: the share of photos in which the patch was found, the RMSE of its corners (px, over those
found) and the share of photos whose verdict has the twin's outcome (worked, failed or inconclusive).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import cv2
import numpy as np

from capture.location import Location
from capture.run_artifact import load_run
from capture.score import Scorer
from capture.synthetic import crop_sheet, random_pose, sheet_from_export, synthesize
from patchgen import run_dir as run_files
from patchgen.goals.photo import worked_rate
from patchgen.image_io import read_image
from patchgen.victims import load_victim
from printing.export import export_run

NEEDED = (run_files.ARTIFACT_PNG, run_files.SIDECAR)  # what the patch folder must hold
PRINT_SIZE = "10cm"
PHOTO_HEIGHT = 720
# The patch's side in the photo, of its height: training placed it on 10 % of the victim's input (anywhere,
# area 0.1), and the victim sees the centre crop, 224/256 of the height: sqrt(0.1) x 224/256.
PATCH_SIDE = 0.28
KINDS = ("markers", "markerless")


def patch_run(patch_dir: Path, work: Path) -> Path:
    """A run folder holding the committed patch and its sidecar, exported as a printout."""
    missing = [name for name in NEEDED if not (Path(patch_dir) / name).is_file()]
    if missing:
        raise SystemExit(f"{patch_dir}: no {' or '.join(missing)}; the classifier row reads a trained patch's "
                         f"{' and '.join(NEEDED)} (benchmarks/attack_classifier.py trains it): give --classifier-patch")
    run = work / "classifier_run"
    run.mkdir(parents=True)
    for name in NEEDED:
        shutil.copy(Path(patch_dir) / name, run / name)
    export_run(run, PRINT_SIZE, dpi=150, write_png=True)
    return run


def pictures(holdout: Path, victim, goal_class: str, limit: int | None) -> tuple[list, int]:
    """(the holdout pictures as (name, path), how many were left out for being of the goal class already)."""
    rows = [line.split("\t") for line in (holdout / "labels.tsv").read_text().splitlines()[1:] if line.strip()]
    goal = victim.class_id(goal_class) if goal_class else None
    kept = [(name, holdout / name) for name, index, *_ in rows if goal is None or int(index) != goal]
    return kept[: limit or None], len(rows) - len(kept)


def corner_rmse(location, shot) -> float:
    return float(np.sqrt(((location.corners_px - shot.artifact_corners_px) ** 2).sum(axis=1).mean()))


def rms(values):
    return round(float(np.sqrt(np.mean(np.square(values)))), 4) if values else None


def summary(rows: list, prefix: str, goal_class: str) -> dict:
    found = [r for r in rows if r["found"]]
    worked_photo, inconclusive_photo = worked_rate(r["photo"] for r in rows)
    worked_twin, inconclusive_twin = worked_rate(r["twin"] for r in rows)

    def share(values):
        return round(float(np.mean(values)), 4) if rows else None

    return {f"{prefix}found_rate": share([r["found"] for r in rows]),
            f"{prefix}rmse_px": rms([r["rmse_px"] for r in found]),
            f"{prefix}verdict_agreement": share([r["photo"].outcome == r["twin"].outcome for r in rows]),
            f"{prefix}top1_agreement": share([r["photo"].top1 == r["twin"].top1 for r in rows]),
            f"{prefix}attack_worked_rate_photo": worked_photo, f"{prefix}inconclusive_photo": inconclusive_photo,
            f"{prefix}attack_worked_rate_twin": worked_twin, f"{prefix}inconclusive_twin": inconclusive_twin,
            f"{prefix}top1_goal_rate_photo": share([r["photo"].top1 == goal_class for r in rows]),
            f"{prefix}top1_goal_rate_twin": share([r["twin"].top1 == goal_class for r in rows]),
            f"{prefix}photos": len(rows)}


def classifier_photos(patch_dir: Path, holdout: Path, work: Path, limit: int | None, seed: int, log) -> dict:
    """The classifier row: headline keys, details and one entry per photo (see the module docstring)."""
    run = patch_run(patch_dir, work)
    artifact = load_run(run)
    victim = load_victim(str(artifact.victim), device="cpu")
    scorer = Scorer(artifact, victim)
    sheet, layout = sheet_from_export(next((run / run_files.EXPORT).glob("*.json")))
    w_mm, h_mm = artifact.size_mm
    gap = -float(layout["markers"][0]["corners_mm"][2][0])  # TL marker's inner corner sits at (-gap, -gap)
    printouts = {"markers": sheet, "markerless": crop_sheet(sheet, (-gap / 2, -gap / 2, w_mm + gap / 2,
                                                                    h_mm + gap / 2))}
    chosen, skipped = pictures(holdout, victim, artifact.goal_class, limit)
    rng = np.random.default_rng(seed)
    rows, started = [], time.perf_counter()
    for name, path in chosen:
        image = read_image(path)
        height, width = image.shape[:2]
        background = cv2.resize(image, (round(width * PHOTO_HEIGHT / height), PHOTO_HEIGHT),
                                interpolation=cv2.INTER_CUBIC)
        h, w = background.shape[:2]
        box = np.array([w * 0.3, h * 0.15, w * 0.7, h * 0.85])  # the print's centre: around the picture's
        pose = dict(random_pose(rng), anchor_y=rng.uniform(0.4, 0.6))
        scale = PATCH_SIDE * h / float(np.hypot(box[2] - box[0], box[3] - box[1]))
        effects_seed = int(rng.integers(2**31))
        for kind in KINDS:
            shot = synthesize(background, box, printouts[kind], artifact.size_mm,
                              np.random.default_rng(effects_seed), pose=pose, artifact_scale=scale)
            photo = scorer.score(shot.photo, with_colour=False)
            truth = Location("truth", shot.mm_to_photo, shot.artifact_corners_px)
            twin = scorer.score(shot.digital, with_colour=False, location=truth)
            found = photo.location
            rows.append({"kind": kind, "image": name, "found": found is not None,
                         "method": None if found is None else found.method,
                         "rmse_px": None if found is None else round(corner_rmse(found, shot), 4),
                         "photo": photo.verdict, "twin": twin.verdict})
            log(f"{name} {kind}: " + (f"found ({found.method}, {rows[-1]['rmse_px']:.2f} px)" if found else "MISSED")
                + f", photo {photo.verdict.outcome} (top-1 {photo.verdict.top1}) vs twin {twin.verdict.outcome} "
                f"(top-1 {twin.verdict.top1})")
    seconds = (time.perf_counter() - started) / max(len(rows), 1)
    goal_class = artifact.goal_class
    overall = summary(rows, "classifier_", goal_class)
    sidecar = run_files.read_sidecar(run)
    by_kind = {}
    for kind in KINDS:
        by_kind |= summary([r for r in rows if r["kind"] == kind], f"classifier_{kind}_", goal_class)
    details = {**overall, **by_kind,
               "classifier_patch": shown_path(patch_dir), "classifier_patch_step": sidecar.get("step"),
               "classifier_attack": artifact.attack, "classifier_victim": artifact.victim,
               "classifier_print_size": PRINT_SIZE, "classifier_photo_height": PHOTO_HEIGHT,
               "classifier_patch_side_of_height": PATCH_SIDE, "classifier_images": "ImageNet holdout samples",
               "classifier_images_skipped_goal_class": skipped, "classifier_seed": seed,
               "classifier_photo_seconds_each": round(seconds, 3)}
    per_photo = [{"kind": r["kind"], "image": r["image"], "found": r["found"], "method": r["method"],
                  "rmse_px": r["rmse_px"], "photo_outcome": r["photo"].outcome, "twin_outcome": r["twin"].outcome,
                  "photo_top1": r["photo"].top1, "twin_top1": r["twin"].top1,
                  "photo_goal_probability": round(r["photo"].target_score, 4),
                  "twin_goal_probability": round(r["twin"].target_score, 4)} for r in rows]
    headline = {key: overall[key] for key in ("classifier_found_rate", "classifier_rmse_px",
                                              "classifier_verdict_agreement")}
    return {"headline": headline, "details": details, "per_photo": per_photo}


def shown_path(folder: Path) -> str:
    """The patch folder as the JSON records it: relative to the repo when it is inside (the committed one)."""
    folder = Path(folder).resolve()
    repo = Path(__file__).resolve().parents[1]
    return str(folder.relative_to(repo)) if folder.is_relative_to(repo) else str(folder)
