"""`patchgen score`: score a list of photos and videos against one artifact (a run's or a published one), and
write the report."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from capture.annotate import annotate
from capture.frames import VIDEO_SUFFIXES, FrameSource
from capture.media import is_video, write_image
from capture.report import PHOTO_COLUMNS, RATE_NOTE, check_report_folder, confidence_histogram, photo_row, \
    staged_report, timeline_plot, write_csv, write_html
from capture.score import Scorer
from capture.video import score_video
from patchgen import run_dir as run_files
from patchgen.atomic import atomic_write_json
from patchgen.data import IMAGE_SUFFIXES
from patchgen.errors import UserError, require_file
from patchgen.goals.photo import worked_rate
from patchgen.goals.thresholds import FOUND_CONF
from patchgen.image_io import read_image

REPORT_IMAGE_MAX_SIDE = 1280
MEDIA_SUFFIXES = IMAGE_SUFFIXES | VIDEO_SUFFIXES  # what a folder given to `patchgen score` is searched for


def load_victim_for(artifact, victim=None, device="cpu"):
    if victim is not None and not isinstance(victim, str):
        return victim
    name = victim or artifact.victim
    if not name:
        raise UserError(f"{artifact.run_dir / run_files.SIDECAR} names no victim; say which model with --victim")
    from patchgen.victims import load_victim

    return load_victim(str(name), device=device)


def input_size(imgsz: int | None, artifact, victim) -> tuple[int, str]:
    """(the victim's input size for photos and frames, where it comes from): `imgsz` as given, else the size the
    run was trained and evaluated at, else the victim's own."""
    if imgsz is not None:
        return imgsz, "--imgsz"
    if artifact is not None and artifact.imgsz:
        return artifact.imgsz, "the run's config"
    return victim.imgsz, "the victim's own"


def _unique_stem(path: Path, used: set) -> str:
    stem, n = path.stem, 1
    while stem in used:
        n += 1
        stem = f"{path.stem}_{n}"
    used.add(stem)
    return stem


def expand_inputs(inputs) -> list[Path]:
    """The files to score: each input as given, a folder replaced by its photos and videos (its own files only,
    not its subfolders', sorted by name); a UserError for a folder that holds none."""
    files = []
    for raw in inputs:
        path = Path(raw)
        if not path.is_dir():
            files.append(path)
            continue
        found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES)
        if not found:
            raise UserError(f"{path}: no photo (.jpg, .png...) or video (.mp4, .avi...) in this folder (its "
                            f"subfolders are not searched): give the photos and videos, or the folder that holds them")
        files += found
    return files


def unreadable(path: Path) -> str | None:
    """Why `path` cannot be scored (missing, not an image, a video without a frame), or None. Photos are
    decoded once here so that a bad one stops the command before the victim loads, not after hours of video."""
    try:
        if is_video(path):
            source = FrameSource(require_file(path, "video")).open()
            try:
                if next(source.frames(), None) is None:
                    return f"{path}: no frame could be read ({source.ended})"
            finally:
                source.close()
        else:
            read_image(path)
    except UserError as err:
        return str(err)
    return None


def score_inputs(inputs, artifact, out_dir, stride: int = 1, victim=None, conf: float = FOUND_CONF,
                 imgsz: int | None = None, fill: str = "grey", device="cpu", label: str | None = None,
                 log=print, progress: bool = True) -> dict:
    """Score every photo and video in `inputs` (files, or folders of them: expand_inputs) against `artifact`
    (capture.run_artifact: load_run or published_artifact); write JSON/CSV/images/HTML under `out_dir`.

    All or nothing: every input is read before the victim loads, and the report is written beside `out_dir` and
    moved in only once all are scored (capture.report.staged_report), so a command that fails leaves an earlier
    report there as it was. `imgsz`: the victim's input size; None: the run's (artifact.imgsz), else the
    victim's own. `label`: the photos' true class, for a classifier's goal (default: each counterfactual's top-1).
    `progress`: a progress bar per video."""
    out = Path(out_dir)
    inputs = expand_inputs(inputs)
    if not inputs:
        raise UserError("no photos or videos given")
    check_report_folder(out)
    errors = [error for error in map(unreadable, inputs) if error]
    if errors:
        for error in errors:
            log(f"cannot be read: {error}")
        why = errors[0] if len(inputs) == 1 else \
            f"none of the {len(inputs)} inputs can be read (first: {errors[0]})" if len(errors) == len(inputs) else \
            f"{len(errors)} of {len(inputs)} inputs cannot be read (first: {errors[0]})"
        raise UserError(f"nothing could be scored: {why}; {out} is as it was: fix or leave out what cannot be read")
    victim = load_victim_for(artifact, victim, device)
    imgsz, imgsz_from = input_size(imgsz, artifact, victim)
    scorer = Scorer(artifact, victim, conf=conf, imgsz=imgsz, fill=fill, label=label)
    with staged_report(out) as stage:
        try:
            photos, videos = _score_into(stage, inputs, scorer, stride, log, progress)
        except UserError as err:  # e.g. which export a photo shows: the user's to settle
            raise UserError(f"{err} (nothing was written: {out} is as it was)") from None
        summary = _summary([p["record"] for p in photos], videos, artifact, conf, imgsz, imgsz_from, victim.family)
        _write_report(stage, summary, photos, videos, artifact, log)
    log(f"report: {out / 'report.html'}")
    return summary


def _score_into(stage: Path, inputs, scorer, stride: int, log, progress: bool) -> tuple[list, list]:
    """Every input scored into `stage`: (photos, videos) as the report takes them."""
    used, photos, videos = set(), [], []
    for path in inputs:
        stem = _unique_stem(path, used)
        if is_video(path):
            videos.append(_score_one_video(path, stem, scorer, stage, stride, log, progress))
            continue
        photos.append(_score_one_photo(path, stem, scorer, stage, scorer.victim.names))
        record = photos[-1]["record"]
        verdict, location = record["verdict"], record["location"]
        how = f"{location['found']}, {location['method']}" if location and "found" in location else \
            location["method"] if location else ""
        found = f"{how}, export {location['export']}" if location and location["export"] else how if location else \
            "artifact in doubt" if record["doubtful_location"] else "artifact not found"
        top = f"top-1 {verdict['top1']} {verdict['top1_score']:.2f}, " if "top1" in verdict else ""
        log(f"{path}: {verdict['outcome']} ({top}{verdict['scored'] or 'target'} {verdict['target_score']:.2f}, "
            f"{found})"
            + (f": {verdict['reason']}" if verdict["reason"] else ""))
    return photos, videos


def _write_report(stage: Path, summary: dict, photos: list, videos: list, artifact, log) -> None:
    records = [p["record"] for p in photos]
    histogram = None
    if records:
        write_csv(stage / "scores.csv", [photo_row(p["name"], p["record"]) for p in photos], PHOTO_COLUMNS)
        confidence_histogram(stage / "confidence_hist.png", [r["verdict"]["target_score"] for r in records],
                             [(r.get("counterfactual_verdict") or {}).get("target_score") for r in records],
                             summary["conf"], f"{artifact.attack} — {len(records)} photos",
                             _one_of({r["verdict"]["scored"] for r in records}))
        histogram = "confidence_hist.png"
        rate = summary["attack_worked_rate"]
        log(f"photos: attack worked on {'–' if rate is None else f'{rate:.0%}'} of those with the artifact found "
            f"({summary['attack_worked']} worked, {summary['attack_failed']} failed, {summary['inconclusive']} "
            f"inconclusive); {summary['not_found']} without it found"
            + (f" ({summary['in_doubt']} of them in doubt)" if summary["in_doubt"] else "") + ", counted apart")
    atomic_write_json(stage / "summary.json", {"summary": summary, "photos": [
        {"photo": p["name"], **p["record"]} for p in photos], "videos": [v["summary"] for v in videos]})
    write_html(stage / "report.html", f"patchgen score — {artifact.name}", summary, photos, videos, histogram)


def _one_of(names: set) -> str:
    """The histogram's axis: what every photo's score is of, where that is the same throughout."""
    return names.pop() if len(names) == 1 and "" not in names else "target score"


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
    write_image(out / annotated, annotate(rgb, score, names, scorer.class_ids, scorer.conf,
                                          max_side=REPORT_IMAGE_MAX_SIDE))
    counterfactual = None
    if score.counterfactual_image is not None:
        counterfactual = f"photos/{stem}_counterfactual.jpg"
        write_image(out / counterfactual, annotate(rgb, score, names, scorer.class_ids, scorer.conf,
                                                   counterfactual=True, max_side=REPORT_IMAGE_MAX_SIDE))
    return {"name": path.name, "record": record, "annotated": annotated, "counterfactual": counterfactual}


def _score_one_video(path: Path, stem: str, scorer, out: Path, stride: int, log, progress: bool) -> dict:
    annotated = f"videos/{stem}_annotated.avi"
    (out / "videos").mkdir(parents=True, exist_ok=True)
    result = score_video(path, scorer, stride=stride, annotated_path=out / annotated,
                         on_event=lambda message: log(message), progress=progress)
    summary = result.summary()
    if not result.rows:  # every frame read failed to score: no result to report for this video
        reason = result.events[0] if result.events else result.ended
        raise UserError(f"{path}: no frame could be scored ({reason})")
    frames_csv = f"videos/{stem}_frames.csv"
    columns = ["frame", "time_s", "located", "method", "top1", "target_score", "outcome", "worked",
               "counterfactual_top1", "counterfactual_target_score", "counterfactual_worked", "delta_e_mean"]
    write_csv(out / frames_csv, result.rows, columns)
    timeline = f"videos/{stem}_timeline.png"
    threshold = scorer.conf if scorer.victim.family == "detector" else None
    timeline_plot(out / timeline, result.rows, threshold, f"{path.name} (stride {stride})")
    atomic_write_json(out / "videos" / f"{stem}.json", {"summary": summary, "frames": result.rows})
    rate = summary["attack_worked_rate"]
    log(f"{path}: {summary['frames_scored']} frames scored, attack worked on {'–' if rate is None else rate} of "
        f"the conclusive ones with the artifact found ({summary['inconclusive_frames']} inconclusive; "
        f"{summary['not_found_frames']} without it found, counted apart)")
    return {"summary": summary, "timeline": timeline,
            "annotated": annotated if result.annotated_video else None, "frames_csv": frames_csv}


def _summary(records, videos, artifact, conf, imgsz: int, imgsz_from: str, family: str) -> dict:
    def mean(values):
        values = [v for v in values if v is not None]
        return round(float(np.mean(values)), 4) if values else None

    methods = [(r.get("location") or {}).get("method") for r in records]
    # Only a photo in which the artifact was found can say whether it worked: see RATE_NOTE.
    found = [r for r in records if r["located"]]
    outcomes = [r["verdict"]["outcome"] for r in found]
    worked, inconclusive = worked_rate(r["verdict"] for r in found)
    cf_worked, cf_inconclusive = worked_rate(r.get("counterfactual_verdict") for r in found)
    exports = [r["export"] for r in records if r.get("export")]
    return {
        "artifact": artifact.name, "family": family, "goal": artifact.goal,
        "target_classes": list(artifact.target_classes), "goal_class": artifact.goal_class,
        "physical_size_mm": list(artifact.size_mm) if artifact.size_known else None,
        "conf": conf if family == "detector" else None,  # a classifier's verdict reads its top-1, no threshold
        "imgsz": imgsz, "imgsz_from": imgsz_from,
        "photos": len(records), "artifact_found": len(found), "not_found": len(records) - len(found),
        # of the not found: a place that may be another object (a look-alike of its outline, two prints)
        "in_doubt": sum(1 for r in records if r["doubtful_location"]),
        "found_by_markers": methods.count("markers"),
        "found_by_markers_and_features": methods.count("markers+features"),
        "found_by_features": methods.count("features"),
        "attack_worked_rate": worked, "attack_worked": outcomes.count("worked"),
        "attack_failed": outcomes.count("failed"), "inconclusive": inconclusive,
        "counterfactual_worked_rate": cf_worked, "counterfactual_inconclusive": cf_inconclusive,
        "rates": RATE_NOTE,
        "exports_seen": {name: exports.count(name) for name in sorted(set(exports))},
        "mean_score_change": mean([r.get("score_change") for r in records]),
        "mean_delta_e": mean([(r.get("colour") or {}).get("delta_e_mean") for r in records]),
        "videos": len(videos),
    }
