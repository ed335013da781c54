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
  - with --texture-run: a trained texture's sheet of repeats, exported as `patchgen export` prints it (A4, --repeat;
    no markers), on the same people at the same poses, at the patch's millimetres to pixels: the same figures.
Then the live loop (capture.live.LiveDemo, no window, no server) on a generated video at imgsz 640 and 320.
And the classifier row (benchmarks/capture_classifier.py): a printed classifier patch (the committed toaster
patch: patch.png + patch.json in --classifier-patch) on ImageNet pictures, with and without markers: found rate,
corner RMSE and verdict agreement with the digital twin. `--only classifier` runs that row alone and merges its
keys into the existing results file, leaving the others as they are.

    python benchmarks/capture.py [--run RUN] [--texture-run RUN [--repeat 10cm]] [--limit N]
                                 [--classifier-patch DIR] [--only classifier]
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
from capture.synthetic import (bare_print, crop_sheet, frame_on_wearer, random_pose, sheet_from_export,  # noqa: E402
                               synthesize, write_run, write_video)
from patchgen import run_dir as run_files  # noqa: E402
from patchgen.atomic import atomic_write_json  # noqa: E402
from patchgen.goals.detector_match import box_iou  # noqa: E402
from patchgen.goals.photo import worked_rate  # noqa: E402
from patchgen.goals.thresholds import FOUND_IOU  # noqa: E402
from patchgen.victims import load_victim  # noqa: E402
from printing.export import export_run  # noqa: E402
from printing.markers import detect_markers  # noqa: E402
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
TEXTURE_REPEAT = "10cm"  # the README's example
TEXTURE_PAPER_MM = 5.0  # paper left around a texture's sheet of repeats (its ticks and caption cut away)


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


def texture_photos(texture_run: str, repeat: str, victim, shots: list, work: Path, log) -> dict:
    """The texture run's exported sheet of repeats (A4, `repeat`; no markers: it has none) on the same scenes."""
    target = work / "texture"
    shutil.copytree(texture_run, target, ignore=shutil.ignore_patterns(run_files.EXPORT))
    export_texture(target, repeat, dpi=150, write_png=False)
    scorer = Scorer(load_run(target), victim)
    artifact = scorer.artifact
    # The sheet as printed, with a strip of its paper; on the torso at the patch's millimetres to pixels.
    sheet = bare_print(artifact.image_rgba, artifact.size_mm, margin_mm=TEXTURE_PAPER_MM)
    scale = PATCH_SCALE * max(artifact.size_mm) / PATCH_MM
    rows = []
    started = time.perf_counter()
    for scene in shots:
        rows.append(markerless(scorer, scene, sheet, scale))
        row = rows[-1]
        log(f"{scene.name}: texture " + (f"found ({row['seed']}, {row['rmse_px']:.2f} px)" if row["found"]
                                         else "MISSED" if row["doubt"] is None else f"IN DOUBT: {row['doubt']}")
            + f", photo {row['photo'].outcome} vs digital "
            f"{row['digital'].outcome}")
    per_photo = [{"image": scene.name, "found": row["found"], "rmse_px": row["rmse_px"], "seed": row["seed"],
                  "doubt": row["doubt"],
                  "photo_outcome": row["photo"].outcome, "outcome_as_scored": row["as_scored"].outcome,
                  "digital_outcome": row["digital"].outcome,
                  "photo_score": round(row["photo"].target_score, 4),
                  "digital_score": round(row["digital"].target_score, 4), "sheet_side_px": row["artifact_side_px"]}
                 for scene, row in zip(shots, rows)]
    return {**markerless_summary(rows, "texture_"), "texture_run": str(texture_run), "texture_repeat": repeat,
            "texture_sheet_mm": [round(v, 2) for v in artifact.size_mm],
            "texture_photo_seconds_each": round((time.perf_counter() - started) / max(len(shots), 1), 3),
            "texture_per_photo": per_photo}


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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", help="a trained run directory (default: the published Thys et al. patch)")
    parser.add_argument("--texture-run", metavar="RUN",
                        help="a trained texture (or camouflage) run: its exported sheet of repeats is photographed "
                             "on the same people too (markerless: a texture's sheet has no markers)")
    parser.add_argument("--repeat", default=TEXTURE_REPEAT, help=f"the texture's repeat (default {TEXTURE_REPEAT})")
    parser.add_argument("--limit", type=int, help="use only the first N holdout photos")
    parser.add_argument("--live-frames", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: on a shared 2-core box, 2 threads wait on each other)")
    parser.add_argument("--classifier-patch", metavar="DIR", default=str(CLASSIFIER_PATCH),
                        help="a trained classifier patch: the folder holding its patch.png and patch.json "
                             f"(default {CLASSIFIER_PATCH.relative_to(REPO)})")
    parser.add_argument("--only", choices=("classifier",),
                        help="run only this row and merge its keys into --out (the other keys stay as they are)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "capture.json"))
    args = parser.parse_args(argv)

    def log(message):
        print(message, file=sys.stderr, flush=True)

    torch.set_num_threads(args.threads)
    if args.only == "classifier":
        with tempfile.TemporaryDirectory(prefix="capture_bench_") as tmp:
            classifier = classifier_photos(Path(args.classifier_patch), IMAGENET_HOLDOUT, Path(tmp), args.limit,
                                           args.seed, log)
        out = Path(args.out)
        result = json.loads(out.read_text()) if out.is_file() else {}
        result |= classifier_keys(classifier)
        atomic_write_json(out, result)
        log(json.dumps(classifier["headline"]))
        log(f"written: {out}")
        return 0
    load_before = os.getloadavg()[0]
    victim = load_victim(str(VICTIM), device="cpu")
    texture = {}
    with tempfile.TemporaryDirectory(prefix="capture_bench_") as tmp:
        work = Path(tmp)
        run_dir, label = prepare_run(work, args.run)
        scorer = Scorer(load_run(run_dir), victim)
        shots, skipped = scenes(scorer, args.limit, args.seed)
        photos = synthetic_photos(run_dir, scorer, shots, log)
        if args.texture_run:
            texture = texture_photos(args.texture_run, args.repeat, victim, shots, work, log)
        live = live_fps(run_dir, victim, work, args.live_frames, log)
        classifier = classifier_photos(Path(args.classifier_patch), IMAGENET_HOLDOUT, work, args.limit, args.seed,
                                       log)
    headline = ("marker_rmse_px", "verdict_agreement", "photos", "attack_worked_rate_photo", "inconclusive_photo",
                "markerless_found_rate", "markerless_rmse_px", "markerless_verdict_agreement",
                "markerless_verdict_agreement_as_scored", "markerless_doubtful")
    result = {key: photos[key] for key in headline}
    if texture:
        result |= {"markerless_found_rate_texture": texture["texture_found_rate"],
                   "markerless_rmse_px_texture": texture["texture_rmse_px"],
                   "verdict_agreement_texture": texture["texture_verdict_agreement"],
                   "verdict_agreement_texture_as_scored": texture["texture_verdict_agreement_as_scored"],
                   "markerless_doubtful_texture": texture["texture_doubtful"]}
    result |= {"live_fps_640": live["live_fps_640"], "live_fps_320": live["live_fps_320"]}
    result |= {
        "details": {k: v for k, v in photos.items() if k != "per_photo"} | live | {
            k: v for k, v in texture.items() if k != "texture_per_photo"} | {
            "artifact": label, "print_size": PRINT_SIZE, "photo_size": [1920, 1080], "victim": VICTIM.name,
            "images": "INRIA test_pos holdout", "photos_skipped_clean_miss": skipped, "seed": args.seed,
            "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
            "load_average_at_start": round(load_before, 2), "load_average_at_end": round(os.getloadavg()[0], 2),
            "machine": platform.machine(), "python": platform.python_version(), "torch": torch.__version__},
        "per_photo": photos["per_photo"],
    }
    if texture:
        result["texture_per_photo"] = texture["texture_per_photo"]
    result |= classifier_keys(classifier)
    atomic_write_json(args.out, result)
    log(json.dumps({k: v for k, v in result.items() if not k.endswith(("details", "per_photo"))}))
    log(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
