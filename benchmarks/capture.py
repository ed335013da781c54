"""Capture benchmark: synthetic photographs of the exported printout, and the live loop's speed.

For each INRIA holdout photo: frame it on a labelled person (1920x1080), take the clean detector's box for that
person as the wearer, warp the printout exactly as `patchgen export` rendered it (PNG: artifact, ArUco markers,
crop marks, caption) onto the torso at a random pose, lighting, blur, noise and JPEG, then
  - marker corners: detected vs true, RMSE in px (over the markers found) and the share of markers found;
  - verdict agreement: the photo's verdict (located and scored like `patchgen score`) vs the digital verdict on the
    same placement without lighting/blur/noise/JPEG, both by the goal's photo_verdict (same outcome: worked, failed
    or inconclusive); attack-worked rates are over the conclusive verdicts, with the inconclusive ones counted apart;
  - markerless: the same photo (same pose, same effects) with the markers cut off the printout, the artifact
    located by its own image (capture/appearance.py) and scored: found rate, artifact-corner RMSE, verdict
    agreement; "doubtful": what was found was set aside as possibly another object (a look-alike of the outline,
    or two places alike: Location.doubt), the photo then inconclusive;
  - a trained texture and camouflage (--texture-run, --camouflage-run): the sheet of repeats `patchgen export`
    prints with no --size (the repeat its training implies on a standing person; its four markers), on the same
    people at the same poses, at a standing person's millimetres to pixels, with its markers in view and with them
    cut away: found rates, corner RMSE, verdict agreement, and the attack's rate on the photos and on their
    digital twins;
  - a trained sticker set (--stickers-run): its pieces as `patchgen export` prints them (each with two markers)
    at their places on the same people: found rates of the set and of its pieces, verdict agreement.
Then the live loop (capture.live.LiveDemo, no window, no server) on a generated video at imgsz 640 and 320.
And the classifier row (benchmarks/capture_classifier.py): a printed classifier patch (the committed toaster
patch: patch.png + patch.json in --classifier-patch) on ImageNet pictures, with and without markers: found rate,
corner RMSE and verdict agreement with the digital twin. `--only ROW` runs that row alone (classifier, texture,
camouflage, stickers) and merges its keys into the existing results file, leaving the others as they are.

    python benchmarks/capture.py [--run RUN] [--texture-run RUN] [--camouflage-run RUN] [--stickers-run RUN]
                                 [--limit N] [--classifier-patch DIR] [--only ROW]
                                 [--out benchmarks/results/capture.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from capture.frames import FrameSource  # noqa: E402
from capture_classifier import classifier_photos  # noqa: E402
from capture.live import LiveDemo  # noqa: E402
from patchgen.image_io import read_image  # noqa: E402
from capture.run_artifact import load_run  # noqa: E402
from capture.score import Scorer  # noqa: E402
from capture.synthetic import (Sheet, crop_sheet, frame_on_wearer, mm_to_pixel_matrix, random_pose,  # noqa: E402
                               sheet_from_export, synthesize, write_run, write_video)
from patchgen import run_dir as run_files  # noqa: E402
from patchgen.atomic import atomic_write_json  # noqa: E402
from patchgen.goals.detector_match import box_iou  # noqa: E402
from patchgen.goals.photo import worked_rate  # noqa: E402
from patchgen.goals.thresholds import FOUND_IOU  # noqa: E402
from patchgen.victims import load_victim  # noqa: E402
from printing.export import export_run  # noqa: E402
from printing.markers import apply_homography, detect_markers  # noqa: E402
from printing.physical_scale import TARGETS, implied_size  # noqa: E402
from printing.sticker_export import export_stickers  # noqa: E402
from printing.texture_export import export_texture  # noqa: E402

ASSETS = REPO.parent / "shared" / "assets"
VICTIM = ASSETS / "models" / "yolov5n_coco_state_dict_fp16.pt"
PEER_PATCH = ASSETS / "peer_patches" / "thys2019_object_score.png"
HOLDOUT = ASSETS / "data" / "inria_test_pos" / "holdout"
IMAGENET_HOLDOUT = ASSETS / "data" / "imagenet_samples" / "holdout"
CLASSIFIER_PATCH = REPO / "benchmarks" / "results" / "attack_classifier" / "imagenet_targeted"
PATCH_MM = 300.0
PRINT_SIZE = f"{PATCH_MM:.0f}mm"  # a torso patch: about 0.2 x the diagonal of an adult's box
PATCH_SCALE = 0.2  # its side in the photo, of the wearer's box diagonal (synthesize's default: the spine's rule)
# A texture's sheet is rendered at this DPI for the photos: its one 72 cm repeat is then about 2000 px, several
# times what a 1920 x 1080 photo of a person shows of it.
SHEET_DPI = 72
PERSON_DIAGONAL_MM = float(np.hypot(TARGETS["person"].w_mm, TARGETS["person"].h_mm))  # the size export assumes
TILINGS = ("texture", "camouflage")
# The trained artifacts photographed (PNG + sidecar): the texture benchmark's (benchmarks/attack_texture.py)
COMMITTED = {kind: REPO / "benchmarks" / "results" / "attack_texture" / kind for kind in (*TILINGS, "stickers")}
ROWS = ("classifier", *TILINGS, "stickers")


def shown_path(path) -> str:
    """A path as the results record it: repo-relative where it is in the repo."""
    path = Path(path).resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def labelled_boxes(image_path: Path, shape) -> np.ndarray:
    rows = np.loadtxt(HOLDOUT / "labels" / f"{image_path.stem}.txt", ndmin=2)
    h, w = shape[:2]
    cx, cy, bw, bh = rows[:, 1] * w, rows[:, 2] * h, rows[:, 3] * w, rows[:, 4] * h
    return np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)


def prepare_run(work: Path, run: str | None) -> tuple[Path, str]:
    """A run with an export: the given one (copied, then exported) or the published Thys et al. patch."""
    target = work / "run"
    if run:
        source = load_run(run)
        write_run(target, source.image_rgba, victim=str(VICTIM), goal=source.goal,
                  target_classes=source.target_classes, goal_class=source.goal_class)
        label = f"run {run}"
    else:
        write_run(target, read_image(PEER_PATCH, keep_alpha=True), victim=str(VICTIM))
        label = "peer patch thys2019_object_score.png"
    export_run(target, PRINT_SIZE, dpi=150, write_png=True)
    return target, label


def _median(values):
    values = [v for v in values if v is not None]
    return round(float(np.median(values)), 4) if values else None


def _min(values):
    values = [v for v in values if v is not None]
    return round(float(np.min(values)), 4) if values else None


@dataclass
class Scene:
    """One holdout photo framed on its labelled person, with the pose and camera effects every print there gets."""

    name: str
    background: np.ndarray
    label_box: np.ndarray
    wearer: np.ndarray  # the clean detector's box for the labelled person
    pose: dict
    effects_seed: int


def scenes(scorer: Scorer, limit: int | None, seed: int) -> tuple[list, int]:
    """(the scenes, how many photos were skipped because the clean detector misses their person)."""
    rng = np.random.default_rng(seed)
    made, skipped = [], 0
    for path in sorted((HOLDOUT / "images").glob("*.jpg"))[: limit or None]:
        image = read_image(path)
        boxes = labelled_boxes(path, image.shape)
        label = boxes[np.argmax(boxes[:, 3] - boxes[:, 1])]
        background, _, label_box = frame_on_wearer(image, label, (1920, 1080), fill=rng.uniform(0.7, 0.95),
                                                   shift=(rng.uniform(-0.25, 0.25), rng.uniform(-0.04, 0.04)))
        clean = scorer.predict(background)
        # The labelled person as the wearer (appear has none: its judged class stands in)
        artifact = scorer.artifact
        wearer_ids = [scorer.victim.class_id(c) for c in artifact.wearer_classes or artifact.judged_classes]
        clean = clean[np.isin(clean[:, 5], wearer_ids) & (clean[:, 4] >= scorer.conf)]
        ious = box_iou(torch.as_tensor(clean[None, :, :4]), torch.as_tensor(label_box).reshape(1, 1, 4))[0, :, 0] \
            .numpy() if len(clean) else np.zeros(0)
        if not len(ious) or ious.max() < FOUND_IOU:
            skipped += 1  # the clean detector misses this person: nothing for an attack to remove
            continue
        made.append(Scene(path.name, background, label_box, clean[int(np.argmax(ious)), :4], random_pose(rng),
                          int(rng.integers(2**31))))
    return made, skipped


def corner_rmse(location, shot) -> float:
    return float(np.sqrt(((location.corners_px - shot.artifact_corners_px) ** 2).sum(axis=1).mean()))


def rms(values):
    return round(float(np.sqrt(np.mean(np.square(values)))), 4) if values else None


def markerless(scorer: Scorer, scene: Scene, sheet, scale: float) -> dict:
    """The printout without markers on the scene's wearer, located and scored against its digital twin: with the
    wearer's box given (as for the photos with markers), and as `patchgen score` scores it, with no box (the wearer
    is then whoever the counterfactual shows over the print it located)."""
    shot = synthesize(scene.background, scene.label_box, sheet, scorer.artifact.size_mm,
                      np.random.default_rng(scene.effects_seed), pose=scene.pose, artifact_scale=scale)
    located = scorer.locate(shot.photo)
    photo = scorer.score(shot.photo, wearer_box=scene.wearer, location=located)
    as_scored = scorer.score(shot.photo, with_colour=False, location=located)
    digital = scorer.score(shot.digital, wearer_box=scene.wearer, with_counterfactual=False, with_colour=False,
                           location=None)
    found = photo.location  # None also where what was located is in doubt (photo.doubtful)
    return {"found": found is not None, "rmse_px": None if found is None else round(corner_rmse(found, shot), 4),
            "seed": None if found is None else found.seed, "doubt": photo.doubtful.doubt if photo.doubtful else None,
            "photo": photo.verdict, "as_scored": as_scored.verdict,
            "digital": digital.verdict, "artifact_side_px": round(shot.params["artifact_side_px"], 1)}


def agreement(rows: list, key: str) -> float | None:
    """Share of rows whose `key` verdict has the digital twin's outcome."""
    return round(float(np.mean([r[key].outcome == r["digital"].outcome for r in rows])), 4) if rows else None


def markerless_summary(rows: list, prefix: str) -> dict:
    found = [r for r in rows if r["found"]]
    worked_photo, inconclusive_photo = worked_rate(r["photo"] for r in rows)
    worked_digital, _ = worked_rate(r["digital"] for r in rows)
    seeds = [r["seed"] for r in found]
    return {f"{prefix}found_rate": round(len(found) / max(len(rows), 1), 4),
            f"{prefix}doubtful": sum(r["doubt"] is not None for r in rows),
            f"{prefix}rmse_px": rms([r["rmse_px"] for r in found]),
            f"{prefix}median_corner_rmse_px": _median([r["rmse_px"] for r in found]),
            f"{prefix}seeded_by": {seed: seeds.count(seed) for seed in sorted(set(seeds))},
            f"{prefix}verdict_agreement": agreement(rows, "photo"),
            f"{prefix}verdict_agreement_as_scored": agreement(rows, "as_scored"),
            f"{prefix}attack_worked_rate_photo": worked_photo, f"{prefix}inconclusive_photo": inconclusive_photo,
            f"{prefix}attack_worked_rate_digital": worked_digital}


def synthetic_photos(run_dir: Path, scorer: Scorer, shots: list, log) -> dict:
    artifact = scorer.artifact
    export_json = next((run_dir / run_files.EXPORT).glob("*.json"))
    sheet, layout = sheet_from_export(export_json)
    w_mm, h_mm = artifact.size_mm
    gap = -float(layout["markers"][0]["corners_mm"][2][0])  # TL marker's inner corner sits at (-gap, -gap)
    # Markers cut away: keep the artifact and half of the white gap around it.
    bare = crop_sheet(sheet, (-gap / 2, -gap / 2, w_mm + gap / 2, h_mm + gap / 2))

    squared, markers_found, markers_total = [], 0, 0
    agree, doubtful, methods = 0, 0, {"markers": 0, "markers+features": 0, "features": 0, None: 0}
    photo_verdicts, digital_verdicts, bare_rows, per_photo = [], [], [], []
    started = time.perf_counter()
    for scene in shots:
        shot = synthesize(scene.background, scene.label_box, sheet, artifact.size_mm,
                          np.random.default_rng(scene.effects_seed), pose=scene.pose)
        detected = detect_markers(shot.photo)
        for marker_id, truth in shot.marker_corners_px.items():
            markers_total += 1
            if marker_id in detected:
                markers_found += 1
                squared.append(((detected[marker_id] - truth) ** 2).sum(axis=1))
        photo_score = scorer.score(shot.photo, wearer_box=scene.wearer)
        digital_score = scorer.score(shot.digital, wearer_box=scene.wearer, with_counterfactual=False,
                                     with_colour=False, location=None)
        agree += photo_score.verdict.outcome == digital_score.verdict.outcome
        photo_verdicts.append(photo_score.verdict)
        digital_verdicts.append(digital_score.verdict)
        method = photo_score.location.method if photo_score.location else None
        methods[method] += 1
        doubtful += photo_score.doubtful is not None
        bare_row = markerless(scorer, scene, bare, PATCH_SCALE)
        bare_rows.append(bare_row)
        per_photo.append({"image": scene.name, "markers_found": sorted(set(detected) & set(shot.marker_corners_px)),
                          "located_by": method, "photo_outcome": photo_score.verdict.outcome,
                          "digital_outcome": digital_score.verdict.outcome,
                          "photo_score": round(photo_score.verdict.target_score, 4),
                          "digital_score": round(digital_score.verdict.target_score, 4),
                          "corner_rmse_px": None if photo_score.location is None else
                          round(corner_rmse(photo_score.location, shot), 4),
                          "delta_e_mean": (photo_score.colour or {}).get("delta_e_mean"),
                          "structure_correlation": (photo_score.colour or {}).get("structure_correlation"),
                          "markerless_found": bare_row["found"], "markerless_rmse_px": bare_row["rmse_px"],
                          "markerless_seed": bare_row["seed"], "markerless_doubt": bare_row["doubt"],
                          "markerless_outcome": bare_row["photo"].outcome,
                          "markerless_outcome_as_scored": bare_row["as_scored"].outcome,
                          "markerless_digital_outcome": bare_row["digital"].outcome,
                          "artifact_side_px": round(shot.params["artifact_side_px"], 1),
                          "blur_sigma": round(shot.params["blur_sigma"], 2)})
        log(f"{scene.name}: markers {len(per_photo[-1]['markers_found'])}/4, {method}, photo "
            f"{photo_score.verdict.target_score:.2f} vs digital {digital_score.verdict.target_score:.2f}, "
            f"markerless " + (f"found ({bare_row['seed']}, {bare_row['rmse_px']:.2f} px)" if bare_row["found"]
                              else "MISSED" if bare_row["doubt"] is None else f"IN DOUBT: {bare_row['doubt']}"))
    elapsed = time.perf_counter() - started
    all_sq = np.concatenate(squared) if squared else np.zeros(0)
    worked_photo, inconclusive_photo = worked_rate(photo_verdicts)
    worked_digital, inconclusive_digital = worked_rate(digital_verdicts)
    located = [p["corner_rmse_px"] for p in per_photo if p["corner_rmse_px"] is not None]
    return {
        "marker_rmse_px": round(float(np.sqrt(all_sq.mean())), 4) if len(all_sq) else None,
        "marker_corner_p95_px": round(float(np.sqrt(np.percentile(all_sq, 95))), 4) if len(all_sq) else None,
        "marker_found_rate": round(markers_found / max(markers_total, 1), 4),
        "artifact_corner_rmse_px": rms(located),
        "verdict_agreement": round(agree / max(len(shots), 1), 4),
        "photos": len(shots),
        "located_by": {"markers": methods["markers"], "markers+features": methods["markers+features"],
                       "features": methods["features"], "not_found": methods[None]},
        "doubtful": doubtful,
        "attack_worked_rate_photo": worked_photo, "inconclusive_photo": inconclusive_photo,
        "attack_worked_rate_digital": worked_digital, "inconclusive_digital": inconclusive_digital,
        **markerless_summary(bare_rows, "markerless_"),
        "photo_seconds_each": round(elapsed / max(len(shots), 1), 3),
        "delta_e_mean_median": _median([p["delta_e_mean"] for p in per_photo]),
        "structure_correlation_min": _min([p["structure_correlation"] for p in per_photo]),
        "per_photo": per_photo,
    }


def tiling_photos(kind: str, tiling_run: str, victim, shots: list, work: Path, log) -> dict:
    """A texture's (or a camouflage's) sheet exported as `patchgen export` prints it with no --size (at the repeat
    its training implies on a standing person, printing/physical_scale.py; one repeat over A4 pages, its four
    markers out from the tiling's corners), on the same people at the same poses, at a standing person's
    millimetres to pixels: with its markers in view (located by them), then with them cut away (by its image)."""
    target = work / kind
    shutil.copytree(tiling_run, target, ignore=shutil.ignore_patterns(run_files.EXPORT))
    implied = implied_size(target, run_files.read_sidecar(target))
    exported = export_texture(target, implied.size, dpi=SHEET_DPI)
    scorer = Scorer(load_run(target), victim)
    sheet, layout = sheet_from_export(exported.sidecar)
    w_mm, h_mm = exported.pattern_mm
    gap = -float(layout["markers"][0]["corners_mm"][2][0])  # TL marker's inner corner sits at (-gap, -gap)
    bare = crop_sheet(sheet, (-gap / 2, -gap / 2, w_mm + gap / 2, h_mm + gap / 2))
    scale = max(w_mm, h_mm) / PERSON_DIAGONAL_MM
    rows, marked = [], []
    started = time.perf_counter()
    for scene in shots:
        shot = synthesize(scene.background, scene.label_box, sheet, (w_mm, h_mm),
                          np.random.default_rng(scene.effects_seed), pose=scene.pose, artifact_scale=scale)
        photo = scorer.score(shot.photo, wearer_box=scene.wearer)
        digital = scorer.score(shot.digital, wearer_box=scene.wearer, with_counterfactual=False, with_colour=False,
                               location=None)
        found = photo.location
        marked.append({"found": found is not None, "by_markers": found is not None and found.method != "features",
                       "rmse_px": None if found is None else round(corner_rmse(found, shot), 4),
                       "photo": photo.verdict, "digital": digital.verdict,
                       "sheet_side_px": round(shot.params["artifact_side_px"], 1)})
        rows.append(markerless(scorer, scene, bare, scale))
        log(f"{scene.name}: {kind} " + (found.method if found is not None else "MISSED")
            + f", photo {photo.verdict.outcome} vs digital {digital.verdict.outcome}; markers cut away: "
            + (f"found ({rows[-1]['seed']})" if rows[-1]["found"] else "MISSED"))
    worked_photo, inconclusive = worked_rate(r["photo"] for r in marked)
    worked_digital, _ = worked_rate(r["digital"] for r in marked)
    found = [r for r in marked if r["found"]]
    per_photo = [{"image": scene.name, "found": m["found"], "by_markers": m["by_markers"], "rmse_px": m["rmse_px"],
                  "photo_outcome": m["photo"].outcome, "digital_outcome": m["digital"].outcome,
                  "markerless_found": r["found"], "markerless_rmse_px": r["rmse_px"],
                  "markerless_outcome": r["photo"].outcome, "sheet_side_px": m["sheet_side_px"]}
                 for scene, m, r in zip(shots, marked, rows)]
    return {f"{kind}_found_rate": round(len(found) / max(len(marked), 1), 4),
            f"{kind}_by_markers_rate": round(sum(r["by_markers"] for r in marked) / max(len(marked), 1), 4),
            f"{kind}_rmse_px": rms([r["rmse_px"] for r in found]),
            f"{kind}_verdict_agreement": agreement(marked, "photo"),
            f"{kind}_photo_attack_rate": worked_photo, f"{kind}_inconclusive_photo": inconclusive,
            f"{kind}_digital_attack_rate": worked_digital,
            **markerless_summary(rows, f"{kind}_markerless_"),
            f"{kind}_run": shown_path(tiling_run), f"{kind}_repeat_mm": round(exported.repeat_mm, 1),
            f"{kind}_repeat_why": implied.why, f"{kind}_sheet_mm": [round(w_mm, 1), round(h_mm, 1)],
            f"{kind}_pages": exported.pages,
            f"{kind}_photo_seconds_each": round((time.perf_counter() - started) / max(len(shots), 1), 3),
            f"{kind}_per_photo": per_photo}


def sticker_board(sidecar: dict, folder: Path, marked: bool) -> Sheet:
    """The object (a standing person's box) with every sticker stuck at its centre: cut with its two markers (the
    marked PNGs), or without (each piece's own PNG); transparent between them, so the person shows through."""
    k = float(sidecar["pieces"][0]["png"]["marked"]["px_per_mm"])
    w_mm, h_mm = sidecar["object_size_mm"]
    size = (round(w_mm * k), round(h_mm * k))
    board = np.zeros((size[1], size[0], 3), np.uint8)
    alpha = np.zeros((size[1], size[0]), np.uint8)
    for piece in sidecar["pieces"]:
        top_left = np.array(piece["centre_mm"]) - piece["side_mm"] / 2
        if marked:
            png = read_image(folder / piece["png"]["marked"]["path"])
            top_left = top_left + piece["png"]["marked"]["origin_mm"]
        else:
            png = read_image(folder / piece["png"]["path"])
        # Both PNGs are at the export's DPI, so a pixel of either is a pixel of the board; whole-pixel places.
        x, y = np.round(top_left * k).astype(int)
        h, w = png.shape[:2]
        board[y:y + h, x:x + w] = png
        alpha[y:y + h, x:x + w] = 255
    return Sheet(image=board, mm_to_px=mm_to_pixel_matrix(k), alpha=alpha)


def sticker_photos(stickers_run: str, victim, shots: list, work: Path, log) -> dict:
    """A sticker set exported as `patchgen export` prints it with no --size (the object a standing person: each
    piece its share of the box's diagonal, with two markers) and stuck at the pieces' places on the same people:
    the whole object upright before them (pose: the scene's turn of the plane), with the stickers cut with their
    markers, then without. Found rates of the set (at least one piece) and of the pieces, piece-corner RMSE,
    verdict agreement with the digital twin."""
    target = work / "stickers"
    shutil.copytree(stickers_run, target, ignore=shutil.ignore_patterns(run_files.EXPORT))
    implied = implied_size(target, run_files.read_sidecar(target))
    exported = export_stickers(target, implied.size, dpi=SHEET_DPI)
    sidecar = json.loads(exported.sidecar.read_text())
    scorer = Scorer(load_run(target), victim)
    object_mm = tuple(sidecar["object_size_mm"])
    scale = max(object_mm) / PERSON_DIAGONAL_MM  # the object's longer side, against the box diagonal
    boards = {"markers": sticker_board(sidecar, target / run_files.EXPORT, marked=True),
              "markerless": sticker_board(sidecar, target / run_files.EXPORT, marked=False)}
    pieces = len(sidecar["pieces"])
    rows = {name: [] for name in boards}
    started = time.perf_counter()
    for scene in shots:
        pose = {**scene.pose, "size_factor": 1.0, "anchor_x": 0.5, "anchor_y": 0.5}  # the object is the box
        for name, board in boards.items():
            shot = synthesize(scene.background, scene.label_box, board, object_mm,
                              np.random.default_rng(scene.effects_seed), pose=pose, artifact_scale=scale)
            photo = scorer.score(shot.photo, wearer_box=scene.wearer)
            digital = scorer.score(shot.digital, wearer_box=scene.wearer, with_counterfactual=False,
                                   with_colour=False, location=None)
            found = photo.location.found if photo.location is not None else [None] * pieces
            errors = []
            for piece, where in zip(sidecar["pieces"], found):
                if where is not None:
                    (x, y), side = np.array(piece["centre_mm"]) - piece["side_mm"] / 2, piece["side_mm"]
                    truth = apply_homography(shot.mm_to_photo, [[x, y], [x + side, y], [x + side, y + side],
                                                                [x, y + side]])
                    errors.append(float(np.sqrt(((where.corners_px - truth) ** 2).sum(axis=1).mean())))
            rows[name].append({"pieces_found": sum(f is not None for f in found),
                               "by_markers": sum(f is not None and f.method.startswith("markers") for f in found),
                               "rmse_px": errors, "photo": photo.verdict, "digital": digital.verdict})
        log(f"{scene.name}: stickers " + ", ".join(f"{name} {rows[name][-1]['pieces_found']}/{pieces}"
                                                   for name in boards)
            + f", photo {rows['markers'][-1]['photo'].outcome} vs digital {rows['markers'][-1]['digital'].outcome}")

    def summary(prefix: str, rows: list) -> dict:
        worked_photo, inconclusive = worked_rate(r["photo"] for r in rows)
        worked_digital, _ = worked_rate(r["digital"] for r in rows)
        return {f"{prefix}found_rate": round(float(np.mean([r["pieces_found"] > 0 for r in rows])), 4),
                f"{prefix}pieces_found_rate": round(sum(r["pieces_found"] for r in rows) / (pieces * len(rows)), 4),
                f"{prefix}pieces_by_markers_rate": round(sum(r["by_markers"] for r in rows) / (pieces * len(rows)), 4),
                f"{prefix}rmse_px": rms([e for r in rows for e in r["rmse_px"]]),
                f"{prefix}verdict_agreement": agreement(rows, "photo"),
                f"{prefix}photo_attack_rate": worked_photo, f"{prefix}inconclusive_photo": inconclusive,
                f"{prefix}digital_attack_rate": worked_digital}

    per_photo = [{"image": scene.name, **{f"{name}_pieces_found": rows[name][i]["pieces_found"] for name in boards},
                  **{f"{name}_outcome": rows[name][i]["photo"].outcome for name in boards},
                  "digital_outcome": rows["markers"][i]["digital"].outcome} for i, scene in enumerate(shots)]
    return {**summary("stickers_", rows["markers"]), **summary("stickers_markerless_", rows["markerless"]),
            "stickers_run": shown_path(stickers_run), "stickers_object_mm": list(object_mm), "stickers_pieces": pieces,
            "stickers_piece_sides_mm": [p["side_mm"] for p in sidecar["pieces"]],
            "stickers_photo_seconds_each": round((time.perf_counter() - started) / max(len(shots), 1), 3),
            "stickers_per_photo": per_photo}


def live_fps(run_dir: Path, victim, work: Path, frames: int, log) -> dict:
    """Frames per second of the live loop (read, locate, detect, draw) on a 1280x720 video, per imgsz."""
    artifact = load_run(run_dir)
    export_json = next((run_dir / run_files.EXPORT).glob("*.json"))
    sheet, _ = sheet_from_export(export_json)
    image = read_image(sorted((HOLDOUT / "images").glob("*.jpg"))[0])
    boxes = labelled_boxes(sorted((HOLDOUT / "images").glob("*.jpg"))[0], image.shape)
    background, _, box = frame_on_wearer(image, boxes[np.argmax(boxes[:, 3] - boxes[:, 1])], (1280, 720), fill=0.85)
    video = work / "live.avi"
    write_video(video, background, box, sheet, artifact.size_mm, frames=frames, fps=15, seed=1)
    out = {}
    # Default settings (markers, and feature matching where some markers are missed), then markers only.
    for imgsz, features in ((640, True), (320, True), (640, False), (320, False)):
        warm = LiveDemo(FrameSource(video), victim, artifact, imgsz=imgsz, max_frames=3, use_features=features,
                        log=lambda m: None)
        warm.run()  # first calls pay for allocations; not what a running demo sees
        demo = LiveDemo(FrameSource(video), victim, artifact, imgsz=imgsz, max_frames=frames,
                        use_features=features, log=lambda m: None)
        summary = demo.run()
        out[imgsz, features] = summary
        log(f"live imgsz {imgsz}{'' if features else ' markers only'}: {summary.frames} frames at "
            f"{summary.fps:.2f} fps")
    return {"live_fps_640": round(out[640, True].fps, 3), "live_fps_320": round(out[320, True].fps, 3),
            "live_fps_640_markers_only": round(out[640, False].fps, 3),
            "live_fps_320_markers_only": round(out[320, False].fps, 3),
            "live_frames": frames, "live_video": "1280x720 MJPG, printout with markers in view",
            "live_failed_frames": sum(s.failed_frames for s in out.values())}


def classifier_keys(classifier: dict) -> dict:
    """The classifier row's keys in results/capture.json: its headline figures, its details, its photos."""
    return {**classifier["headline"], "classifier_details": classifier["details"],
            "classifier_per_photo": classifier["per_photo"]}


def row_keys(kind: str, row: dict, headline: tuple) -> dict:
    """A print kind's keys in results/capture.json: its headline figures, its details, its photos."""
    return {**{key: row[key] for key in headline}, f"{kind}_details": {
        k: v for k, v in row.items() if k not in headline and not k.endswith("per_photo")},
        f"{kind}_per_photo": row[f"{kind}_per_photo"]}


def tiling_keys(kind: str, row: dict) -> dict:
    return row_keys(kind, row, tuple(f"{kind}_{key}" for key in (
        "found_rate", "rmse_px", "verdict_agreement", "photo_attack_rate", "digital_attack_rate",
        "markerless_found_rate", "markerless_verdict_agreement")))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", help="a trained run directory (default: the published Thys et al. patch)")
    for kind in TILINGS:
        parser.add_argument(f"--{kind}-run", metavar="RUN", default=str(COMMITTED[kind]),
                            help=f"a trained {kind} run (default {COMMITTED[kind].relative_to(REPO)}): its sheet of "
                                 f"repeats, exported at the repeat its training implies, on the same people")
    parser.add_argument("--stickers-run", metavar="RUN", default=str(COMMITTED["stickers"]),
                        help=f"a trained sticker set (default {COMMITTED['stickers'].relative_to(REPO)}): its "
                             f"pieces at their places on the same people")
    parser.add_argument("--limit", type=int, help="use only the first N holdout photos")
    parser.add_argument("--live-frames", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: on a shared 2-core box, 2 threads wait on each other)")
    parser.add_argument("--classifier-patch", metavar="DIR", default=str(CLASSIFIER_PATCH),
                        help="a trained classifier patch: the folder holding its patch.png and patch.json "
                             f"(default {CLASSIFIER_PATCH.relative_to(REPO)})")
    parser.add_argument("--only", choices=ROWS, action="append",
                        help="run only this row (repeatable) and merge its keys into --out (the others stay)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "capture.json"))
    args = parser.parse_args(argv)

    def log(message):
        print(message, file=sys.stderr, flush=True)

    torch.set_num_threads(args.threads)
    only = set(args.only or ())
    out = Path(args.out)
    result = json.loads(out.read_text()) if only and out.is_file() else {}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="capture_bench_") as tmp:
        work = Path(tmp)
        if not only or only - {"classifier"}:
            victim = load_victim(str(VICTIM), device="cpu")
            run_dir, label = prepare_run(work, args.run)
            scorer = Scorer(load_run(run_dir), victim)
            shots, skipped = scenes(scorer, args.limit, args.seed)
        if not only:
            photos = synthetic_photos(run_dir, scorer, shots, log)
            live = live_fps(run_dir, victim, work, args.live_frames, log)
            headline = ("marker_rmse_px", "verdict_agreement", "photos", "attack_worked_rate_photo",
                        "inconclusive_photo", "markerless_found_rate", "markerless_rmse_px",
                        "markerless_verdict_agreement", "markerless_verdict_agreement_as_scored",
                        "markerless_doubtful")
            result |= {key: photos[key] for key in headline}
            result |= {"live_fps_640": live["live_fps_640"], "live_fps_320": live["live_fps_320"]}
            result["details"] = {k: v for k, v in photos.items() if k != "per_photo"} | live | {
                "artifact": label, "print_size": PRINT_SIZE, "photo_size": [1920, 1080], "victim": VICTIM.name,
                "images": "INRIA test_pos holdout", "photos_skipped_clean_miss": skipped, "seed": args.seed,
                "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
                "load_average_at_start": round(load_before, 2), "load_average_at_end": round(os.getloadavg()[0], 2),
                "machine": platform.machine(), "python": platform.python_version(), "torch": torch.__version__}
            result["per_photo"] = photos["per_photo"]
        for kind in TILINGS:
            if not only or kind in only:
                row = tiling_photos(kind, getattr(args, f"{kind}_run"), victim, shots, work, log)
                result |= tiling_keys(kind, row)
                result[f"{kind}_details"] |= {"photos": len(shots), "torch_threads": torch.get_num_threads(),
                                              "load_average_at_end": round(os.getloadavg()[0], 2)}
        if not only or "stickers" in only:
            row = sticker_photos(args.stickers_run, victim, shots, work, log)
            result |= row_keys("stickers", row, ("stickers_found_rate", "stickers_pieces_found_rate",
                                                  "stickers_verdict_agreement", "stickers_photo_attack_rate",
                                                  "stickers_digital_attack_rate"))
        if not only or "classifier" in only:
            classifier = classifier_photos(Path(args.classifier_patch), IMAGENET_HOLDOUT, work, args.limit,
                                           args.seed, log)
            result |= classifier_keys(classifier)
    atomic_write_json(out, result)
    log(json.dumps({k: v for k, v in result.items() if not k.endswith(("details", "per_photo"))}))
    log(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
