"""`patchgen score`: score a list of photos and videos against one artifact (a run's or a published one), and
write the report."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from capture.annotate import annotate
from capture.media import is_video, shrink, write_image
from patchgen.image_io import read_image
from capture.report import PHOTO_COLUMNS, confidence_histogram, photo_row, timeline_plot, write_csv, write_html
from capture.score import Scorer
from capture.verdict import worked_rate
from capture.video import score_video
from patchgen import run_dir as run_files
from patchgen.atomic import atomic_write_json
from patchgen.errors import UserError

REPORT_IMAGE_MAX_SIDE = 1280


def load_victim_for(artifact, victim=None, device="cpu"):
    if victim is not None and not isinstance(victim, str):
        return victim
    name = victim or artifact.victim
    if not name:
        raise UserError(f"{artifact.run_dir / run_files.SIDECAR} names no victim; say which model with --victim")
    from patchgen.victims import load_victim

    return load_victim(str(name), device=device)


def _unique_stem(path: Path, used: set) -> str:
    stem, n = path.stem, 1
    while stem in used:
        n += 1
        stem = f"{path.stem}_{n}"
    used.add(stem)
    return stem


def score_inputs(inputs, artifact, out_dir, stride: int = 1, victim=None, conf: float = 0.25,
                 imgsz: int | None = None, fill: str = "grey", device="cpu", log=print) -> dict:
    """Score every photo and video in `inputs` against `artifact` (capture.run_artifact: load_run or
    published_artifact); write JSON/CSV/images/HTML under `out_dir`.

    Inputs that cannot be read or scored are listed in the report and raised as one UserError at the end, after
    everything else has been scored and written."""
    inputs = [Path(p) for p in inputs]
    if not inputs:
        raise UserError("no photos or videos given")
    out = Path(out_dir)
    victim = load_victim_for(artifact, victim, device)
    scorer = Scorer(artifact, victim, conf=conf, imgsz=imgsz, fill=fill)
    names = victim.names
    used, photos, videos, errors = set(), [], [], []

    for raw in inputs:
        path = Path(raw)
        stem = _unique_stem(path, used)
        try:
            if is_video(path):
                videos.append(_score_one_video(path, stem, scorer, out, stride, log))
            else:
                photos.append(_score_one_photo(path, stem, scorer, out, names))
                verdict, location = photos[-1]["record"]["verdict"], photos[-1]["record"]["location"]
                found = f"{location['method']}, export {location['export']}" if location and location["export"] \
                    else location["method"] if location else "artifact not found"
                log(f"{path}: {verdict['outcome']} (target score {verdict['target_score']:.2f}, {found})"
                    + (f": {verdict['reason']}" if verdict["reason"] else ""))
        except UserError as err:
            errors.append(str(err))
            log(f"{path}: skipped: {err}")

    records = [p["record"] for p in photos]
    summary = _summary(records, videos, errors, artifact, conf)
    histogram = None
    if records:
        write_csv(out / "scores.csv", [photo_row(p["name"], p["record"]) for p in photos], PHOTO_COLUMNS)
        confidence_histogram(out / "confidence_hist.png", [r["verdict"]["target_score"] for r in records],
                             [(r.get("counterfactual_verdict") or {}).get("target_score") for r in records], conf,
                             f"{artifact.attack} — {len(records)} photos")
        histogram = "confidence_hist.png"
    atomic_write_json(out / "summary.json", {"summary": summary, "photos": [
        {"photo": p["name"], **p["record"]} for p in photos], "videos": [v["summary"] for v in videos]})
    write_html(out / "report.html", f"patchgen score — {artifact.name}", summary, photos, videos, errors,
               histogram)
    log(f"report: {out / 'report.html'}")
    if errors:
        first = errors[0]
        raise UserError(f"{len(errors)} of {len(inputs)} inputs could not be read or scored (first: {first}); "
                        f"the rest were scored into {out}")
    return summary


def _score_one_photo(path: Path, stem: str, scorer, out: Path, names) -> dict:
    rgb = read_image(path)
    try:
        score = scorer.score(rgb)
    except UserError as err:  # e.g. markers that fit two exports: the message needs the photo's name
        raise UserError(f"{path}: {err}") from None
    record = score.to_dict(names)
    record["input"] = str(path)
    record["size"] = [int(rgb.shape[1]), int(rgb.shape[0])]
    atomic_write_json(out / "photos" / f"{stem}.json", record)
    annotated = f"photos/{stem}_annotated.jpg"
    write_image(out / annotated, shrink(annotate(rgb, score, names, scorer.class_ids, scorer.conf),
                                        REPORT_IMAGE_MAX_SIDE))
    counterfactual = None
    if score.counterfactual_image is not None:
        counterfactual = f"photos/{stem}_counterfactual.jpg"
        write_image(out / counterfactual, shrink(annotate(rgb, score, names, scorer.class_ids, scorer.conf,
                                                          counterfactual=True), REPORT_IMAGE_MAX_SIDE))
    return {"name": path.name, "record": record, "annotated": annotated, "counterfactual": counterfactual}


def _score_one_video(path: Path, stem: str, scorer, out: Path, stride: int, log) -> dict:
    annotated = f"videos/{stem}_annotated.avi"
    (out / "videos").mkdir(parents=True, exist_ok=True)
    result = score_video(path, scorer, stride=stride, annotated_path=out / annotated,
                         on_event=lambda message: log(message))
    summary = result.summary()
    frames_csv = f"videos/{stem}_frames.csv"
    columns = ["frame", "time_s", "located", "method", "target_score", "outcome", "worked",
               "counterfactual_target_score", "counterfactual_worked", "delta_e_mean"]
    write_csv(out / frames_csv, result.rows, columns)
    timeline = f"videos/{stem}_timeline.png"
    if result.rows:
        timeline_plot(out / timeline, result.rows, scorer.conf, f"{path.name} (stride {stride})")
    atomic_write_json(out / "videos" / f"{stem}.json", {"summary": summary, "frames": result.rows})
    log(f"{path}: {summary['frames_scored']} frames scored, attack worked on "
        f"{summary['attack_worked_rate'] if summary['attack_worked_rate'] is not None else '–'} of the conclusive "
        f"ones ({summary['inconclusive_frames']} inconclusive)")
    return {"summary": summary, "timeline": timeline if result.rows else None,
            "annotated": annotated if result.annotated_video else None, "frames_csv": frames_csv}


def _summary(records, videos, errors, artifact, conf) -> dict:
    def mean(values):
        values = [v for v in values if v is not None]
        return round(float(np.mean(values)), 4) if values else None

    methods = [(r.get("location") or {}).get("method") for r in records]
    worked, inconclusive = worked_rate(r["verdict"] for r in records)
    cf_worked, cf_inconclusive = worked_rate(r.get("counterfactual_verdict") for r in records)
    exports = [r["export"] for r in records if r.get("export")]
    return {
        "artifact": artifact.name, "goal": artifact.goal, "target_classes": list(artifact.target_classes),
        "goal_class": artifact.goal_class,
        "physical_size_mm": list(artifact.size_mm) if artifact.size_known else None, "conf": conf,
        "photos": len(records), "found_by_markers": methods.count("markers"),
        "found_by_markers_and_features": methods.count("markers+features"),
        "found_by_features": methods.count("features"), "not_found": methods.count(None),
        # Rates are over the conclusive photos; the inconclusive ones are counted beside, never as success.
        "attack_worked_rate": worked, "inconclusive": inconclusive,
        "counterfactual_worked_rate": cf_worked, "counterfactual_inconclusive": cf_inconclusive,
        "exports_seen": {name: exports.count(name) for name in sorted(set(exports))},
        "mean_score_change": mean([r.get("score_change") for r in records]),
        "mean_delta_e": mean([(r.get("colour") or {}).get("delta_e_mean") for r in records]),
        "videos": len(videos), "unreadable": len(errors),
    }
