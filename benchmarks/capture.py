"""Capture benchmark: synthetic photographs of the exported printout, and the live loop's speed.

For each INRIA holdout photo: frame it on a labelled person (1920x1080), take the clean detector's box for that
person as the wearer, warp the printout exactly as `patchgen export` rendered it (PNG: artifact, ArUco markers,
crop marks, caption) onto the torso at a random pose, lighting, blur, noise and JPEG, then
  - marker corners: detected vs true, RMSE in px (over the markers found) and the share of markers found;
  - verdict agreement: the photo's verdict (found by markers or features, scored like `patchgen score`) vs the
    digital verdict on the same placement without lighting/blur/noise/JPEG, both by capture.verdict's rule
    (same outcome: worked, failed or inconclusive); attack-worked rates are over the conclusive verdicts, with
    the inconclusive ones counted apart;
  - markerless: the same photo (same pose, same effects) with the markers cut off the printout, the artifact
    located by its own SIFT features: found rate and artifact-corner RMSE.
Then the live loop (capture.live.LiveDemo, no window, no server) on a generated video at imgsz 640 and 320.

    python benchmarks/capture.py [--run RUN] [--limit N] [--out benchmarks/results/capture.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from capture.frames import FrameSource  # noqa: E402
from capture.live import LiveDemo  # noqa: E402
from patchgen.image_io import read_image  # noqa: E402
from capture.run_artifact import load_run  # noqa: E402
from capture.score import Scorer  # noqa: E402
from capture.synthetic import (crop_sheet, frame_on_wearer, random_pose, sheet_from_export, synthesize,  # noqa: E402
                               write_run, write_video)
from capture.verdict import box_iou, worked_rate  # noqa: E402
from patchgen import run_dir as run_files  # noqa: E402
from patchgen.atomic import atomic_write_json  # noqa: E402
from patchgen.victims import load_victim  # noqa: E402
from printing.export import export_run  # noqa: E402
from printing.markers import detect_markers  # noqa: E402

ASSETS = REPO.parent / "shared" / "assets"
VICTIM = ASSETS / "models" / "yolov5n_coco_state_dict_fp16.pt"
PEER_PATCH = ASSETS / "peer_patches" / "thys2019_object_score.png"
HOLDOUT = ASSETS / "data" / "inria_test_pos" / "holdout"
PRINT_SIZE = "300mm"  # a torso patch: about 0.2 x the diagonal of an adult's box


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


def synthetic_photos(run_dir: Path, scorer: Scorer, limit: int | None, seed: int, log) -> dict:
    artifact = scorer.artifact
    export_json = next((run_dir / run_files.EXPORT).glob("*.json"))
    sheet, layout = sheet_from_export(export_json)
    w_mm, h_mm = artifact.size_mm
    gap = -float(layout["markers"][0]["corners_mm"][2][0])  # TL marker's inner corner sits at (-gap, -gap)
    # Markers cut away: keep the artifact and half of the white gap around it.
    bare = crop_sheet(sheet, (-gap / 2, -gap / 2, w_mm + gap / 2, h_mm + gap / 2))

    images = sorted((HOLDOUT / "images").glob("*.jpg"))[: limit or None]
    rng = np.random.default_rng(seed)
    squared, markers_found, markers_total = [], 0, 0
    agree, photos, skipped, methods = 0, 0, 0, {"markers": 0, "markers+features": 0, "features": 0, None: 0}
    photo_verdicts, digital_verdicts = [], []
    found_bare, bare_rmse, bare_inliers = 0, [], []
    per_photo = []
    started = time.perf_counter()
    for path in images:
        image = read_image(path)
        boxes = labelled_boxes(path, image.shape)
        label = boxes[np.argmax(boxes[:, 3] - boxes[:, 1])]
        background, _, label_box = frame_on_wearer(image, label, (1920, 1080), fill=rng.uniform(0.7, 0.95),
                                                   shift=(rng.uniform(-0.25, 0.25), rng.uniform(-0.04, 0.04)))
        clean = scorer.detect(background)
        # The labelled person as the wearer (appear has none: its judged class stands in)
        wearer_ids = scorer.wearer_ids or scorer.class_ids
        clean = clean[np.isin(clean[:, 5], wearer_ids) & (clean[:, 4] >= scorer.conf)]
        ious = box_iou(clean[:, :4], label_box) if len(clean) else np.zeros(0)
        if not len(ious) or ious.max() < 0.5:
            skipped += 1  # the clean detector misses this person: nothing for an attack to remove
            continue
        wearer = clean[int(np.argmax(ious)), :4]
        pose = random_pose(rng)
        effects_seed = int(rng.integers(2**31))

        shot = synthesize(background, label_box, sheet, artifact.size_mm, np.random.default_rng(effects_seed),
                          pose=pose)
        detected = detect_markers(shot.photo)
        for marker_id, truth in shot.marker_corners_px.items():
            markers_total += 1
            if marker_id in detected:
                markers_found += 1
                squared.append(((detected[marker_id] - truth) ** 2).sum(axis=1))
        photo_score = scorer.score(shot.photo, wearer_box=wearer)
        digital_score = scorer.score(shot.digital, wearer_box=wearer, with_counterfactual=False,
                                     with_colour=False, location=None)
        photos += 1
        agree += photo_score.verdict.outcome == digital_score.verdict.outcome
        photo_verdicts.append(photo_score.verdict)
        digital_verdicts.append(digital_score.verdict)
        method = photo_score.location.method if photo_score.location else None
        methods[method] += 1

        bare_shot = synthesize(background, label_box, bare, artifact.size_mm, np.random.default_rng(effects_seed),
                               pose=pose)
        found = scorer.template.locate(bare_shot.photo)
        rmse = None
        if found is not None:
            found_bare += 1
            rmse = float(np.sqrt(((found.corners_px - bare_shot.artifact_corners_px) ** 2).sum(axis=1).mean()))
            bare_rmse.append(rmse)
            bare_inliers.append(found.inliers)
        per_photo.append({"image": path.name, "markers_found": sorted(set(detected) & set(shot.marker_corners_px)),
                          "located_by": method, "photo_outcome": photo_score.verdict.outcome,
                          "digital_outcome": digital_score.verdict.outcome,
                          "photo_score": round(photo_score.verdict.target_score, 4),
                          "digital_score": round(digital_score.verdict.target_score, 4),
                          "delta_e_mean": (photo_score.colour or {}).get("delta_e_mean"),
                          "structure_correlation": (photo_score.colour or {}).get("structure_correlation"),
                          "markerless_found": found is not None,
                          "markerless_rmse_px": None if rmse is None else round(rmse, 3),
                          "artifact_side_px": round(shot.params["artifact_side_px"], 1),
                          "blur_sigma": round(shot.params["blur_sigma"], 2)})
        log(f"{path.name}: markers {len(set(detected) & set(shot.marker_corners_px))}/4, {method}, photo "
            f"{photo_score.verdict.target_score:.2f} vs digital {digital_score.verdict.target_score:.2f}, "
            f"markerless {'found' if found is not None else 'MISSED'}"
            + (f" ({rmse:.2f} px)" if rmse is not None else ""))
    elapsed = time.perf_counter() - started
    all_sq = np.concatenate(squared) if squared else np.zeros(0)
    worked_photo, inconclusive_photo = worked_rate(photo_verdicts)
    worked_digital, inconclusive_digital = worked_rate(digital_verdicts)
    return {
        "marker_rmse_px": round(float(np.sqrt(all_sq.mean())), 4) if len(all_sq) else None,
        "marker_corner_p95_px": round(float(np.sqrt(np.percentile(all_sq, 95))), 4) if len(all_sq) else None,
        "marker_found_rate": round(markers_found / max(markers_total, 1), 4),
        "verdict_agreement": round(agree / max(photos, 1), 4),
        "photos": photos,
        "photos_skipped_clean_miss": skipped,
        "located_by": {"markers": methods["markers"], "markers+features": methods["markers+features"],
                       "features": methods["features"], "not_found": methods[None]},
        "attack_worked_rate_photo": worked_photo, "inconclusive_photo": inconclusive_photo,
        "attack_worked_rate_digital": worked_digital, "inconclusive_digital": inconclusive_digital,
        "markerless_found_rate": round(found_bare / max(photos, 1), 4),
        "markerless_rmse_px": round(float(np.sqrt(np.mean(np.square(bare_rmse)))), 4) if bare_rmse else None,
        "markerless_median_corner_rmse_px": round(float(np.median(bare_rmse)), 4) if bare_rmse else None,
        "markerless_median_inliers": int(np.median(bare_inliers)) if bare_inliers else None,
        "photo_seconds_each": round(elapsed / max(photos + skipped, 1), 3),
        "delta_e_mean_median": _median([p["delta_e_mean"] for p in per_photo]),
        "structure_correlation_min": _min([p["structure_correlation"] for p in per_photo]),
        "per_photo": per_photo,
    }


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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", help="a trained run directory (default: the published Thys et al. patch)")
    parser.add_argument("--limit", type=int, help="use only the first N holdout photos")
    parser.add_argument("--live-frames", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: on a shared 2-core box, 2 threads wait on each other)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "capture.json"))
    args = parser.parse_args(argv)

    def log(message):
        print(message, file=sys.stderr, flush=True)

    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    victim = load_victim(str(VICTIM), device="cpu")
    with tempfile.TemporaryDirectory(prefix="capture_bench_") as tmp:
        work = Path(tmp)
        run_dir, label = prepare_run(work, args.run)
        scorer = Scorer(load_run(run_dir), victim)
        photos = synthetic_photos(run_dir, scorer, args.limit, args.seed, log)
        live = live_fps(run_dir, victim, work, args.live_frames, log)
    result = {
        "marker_rmse_px": photos["marker_rmse_px"], "verdict_agreement": photos["verdict_agreement"],
        "photos": photos["photos"], "attack_worked_rate_photo": photos["attack_worked_rate_photo"],
        "inconclusive_photo": photos["inconclusive_photo"], "markerless_found_rate": photos["markerless_found_rate"],
        "markerless_rmse_px": photos["markerless_rmse_px"], "live_fps_640": live["live_fps_640"],
        "live_fps_320": live["live_fps_320"],
        "details": {k: v for k, v in photos.items() if k not in ("per_photo",)} | live | {
            "artifact": label, "print_size": PRINT_SIZE, "photo_size": [1920, 1080], "victim": VICTIM.name,
            "images": "INRIA test_pos holdout", "seed": args.seed, "torch_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(), "load_average_at_start": round(load_before, 2),
            "load_average_at_end": round(os.getloadavg()[0], 2), "machine": platform.machine(),
            "python": platform.python_version(), "torch": torch.__version__},
        "per_photo": photos["per_photo"],
    }
    atomic_write_json(args.out, result)
    log(json.dumps({k: v for k, v in result.items() if k not in ("details", "per_photo")}))
    log(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
