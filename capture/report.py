"""The scoring report: a CSV and JSON per input, a confidence histogram, video timelines, one HTML page; written
into a folder beside the output and moved in whole only when the command succeeds (staged_report), into a folder
that holds no earlier report (each scoring gets its own: RUN/score, RUN/score-2, ...)."""

from __future__ import annotations

import csv
import html
import io
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from patchgen.atomic import atomic_save, atomic_write_text
from patchgen.errors import UserError

# Everything `patchgen score` writes into its output folder: other files in the folder (the photos themselves,
# say) are left alone.
REPORT_ENTRIES = ("summary.json", "scores.csv", "confidence_hist.png", "report.html", "photos", "videos")
# The rates' denominators, said where the rates are shown (summary.json, the page).
RATE_NOTE = ("attack_worked_rate = attack_worked / (attack_worked + attack_failed), over the photos in which the "
             "artifact was found; an inconclusive photo, and every photo in which it was not found (none in "
             "view, another print, a mirrored one, or only a place in doubt: a look-alike of its outline, two "
             "prints; in_doubt counts those), is counted apart and in no rate")
PHOTO_COLUMNS = ["photo", "outcome", "located", "method", "export", "markers_found", "feature_inliers",
                 "image_correlation", "top1", "top1_score", "scored", "target_score", "worked", "in_worked_rate",
                 "counterfactual_top1", "counterfactual_target_score", "counterfactual_outcome", "score_change",
                 "delta_e_mean", "delta_e_p95", "wearer_source", "notes"]


def photo_row(name: str, record: dict) -> dict:
    location = record.get("location") or {}
    cf = record.get("counterfactual_verdict") or {}
    colour = record.get("colour") or {}
    verdict = record["verdict"]
    notes = ([verdict["reason"]] if verdict["reason"] else []) + list(record.get("notes", []))
    return {"photo": name, "outcome": verdict["outcome"], "located": record["located"],
            "method": location.get("method", ""), "export": record.get("export"),
            "markers_found": len(location.get("markers_found", [])), "feature_inliers":
            location.get("feature_inliers", 0), "image_correlation": location.get("correlation"),
            "top1": verdict.get("top1"), "top1_score": verdict.get("top1_score"), "scored": verdict["scored"],
            "target_score": verdict["target_score"],
            "worked": verdict["worked"], "in_worked_rate": counts_in_rate(record),
            "counterfactual_top1": cf.get("top1"), "counterfactual_target_score": cf.get("target_score"),
            "counterfactual_outcome": cf.get("outcome"), "score_change": record.get("score_change"),
            "delta_e_mean": colour.get("delta_e_mean"), "delta_e_p95": colour.get("delta_e_p95"),
            "wearer_source": record.get("wearer_source"), "notes": " | ".join(notes)}


def counts_in_rate(record: dict) -> bool:
    """Whether a photo's verdict counts in attack_worked_rate: the artifact found, the verdict conclusive."""
    return bool(record["located"]) and record["verdict"]["worked"] is not None


def check_report_folder(out: Path) -> None:
    """`out` can take a report: new, or a folder without report entries. Checked before anything is scored: an
    earlier report is never replaced, nor a photos/ of someone else's."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file: give a folder for the report")
    if (out / "summary.json").is_file():
        raise UserError(f"--out {out} already holds a score report (summary.json): choose another --out, or leave "
                        f"--out out: each scoring of a run gets a folder of its own (RUN/score, RUN/score-2, ...)")
    taken = [name for name in REPORT_ENTRIES if (out / name).exists()]
    if taken:
        raise UserError(f"--out {out} holds {', '.join(taken)} but no summary.json, so it is not an earlier "
                        f"score report and those would be replaced: give a new or empty folder")


@contextmanager
def staged_report(out: Path):
    """Yields a fresh folder beside `out` to write the report into. When the block ends normally, the report's
    entries there move into `out` (check_report_folder: it holds none); when it raises, `out` is left exactly as
    it was."""
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.new-"))
    except OSError as err:
        raise UserError(f"cannot write the report beside {out}: {err.strerror or err}") from None
    try:
        yield stage
        _move_in(stage, out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _move_in(stage: Path, out: Path) -> None:
    """Renames only (same filesystem); the entries already moved go back if a rename fails half way."""
    check_report_folder(out)  # another command may have written there while this one scored
    out.mkdir(exist_ok=True)
    moved_in = []
    try:
        for name in REPORT_ENTRIES:
            if (stage / name).exists():
                os.replace(stage / name, out / name)
                moved_in.append(name)
    except OSError as err:
        for name in moved_in:
            os.replace(out / name, stage / name)
        raise UserError(f"cannot move the report into {out} ({err.strerror or err}); {out} is as it was") from None


def write_csv(path, rows: list, columns: list) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    return atomic_write_text(path, buffer.getvalue())


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # never a window: reports are written on headless hosts too
    import matplotlib.pyplot as plt

    return plt


def confidence_histogram(path, with_artifact: list, counterfactual: list, conf: float | None, title: str,
                         scored: str = "target-class score over the wearer") -> Path:
    """`conf`: the threshold line (None: none, a classifier's verdict reads its top-1); `scored`: what the scores
    are of."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=100)
    bins = np.linspace(0, 1, 21)
    ax.hist([v for v in counterfactual if v is not None], bins=bins, alpha=0.55, label="artifact painted over",
            color="#7a7a7a")
    ax.hist(with_artifact, bins=bins, alpha=0.65, label="with the artifact", color="#d43c3c")
    if conf is not None:
        ax.axvline(conf, color="k", linestyle="--", linewidth=1, label=f"threshold {conf:.2f}")
    ax.set_xlabel(scored)
    ax.set_ylabel("photos")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    atomic_save(Path(path), lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)
    return Path(path)


def timeline_plot(path, rows: list, conf: float | None, title: str) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=100)
    use_time = all(r["time_s"] is not None for r in rows)
    x = [r["time_s"] if use_time else r["frame"] for r in rows]
    ax.plot(x, [r["target_score"] for r in rows], color="#d43c3c", label="with the artifact")
    cf = [r["counterfactual_target_score"] for r in rows]
    if any(v is not None for v in cf):
        ax.plot(x, [np.nan if v is None else v for v in cf], color="#7a7a7a", label="artifact painted over")
    lost = [xi for xi, r in zip(x, rows) if not r["located"]]
    if lost:
        ax.plot(lost, [0.0] * len(lost), "|", color="#3070c0", markersize=8, label="artifact not found")
    if conf is not None:
        ax.axhline(conf, color="k", linestyle="--", linewidth=1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("time (s)" if use_time else "frame")
    ax.set_ylabel("target score")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    atomic_save(Path(path), lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)
    return Path(path)


def _num(value, digits=2):
    return "–" if value is None else f"{value:.{digits}f}"


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
td, th {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }}
.pair {{ display: flex; gap: 0.5em; }} .pair img {{ width: 49%; height: auto; }}
.ok {{ color: #1a8a3a; font-weight: 600; }} .no {{ color: #c02a2a; font-weight: 600; }}
.unknown {{ color: #666; font-weight: 600; }}
.note {{ color: #8a5a00; }}
</style></head><body>
<h1>{title}</h1>
{body}
</body></html>
"""


def _scores(verdict: dict) -> str:
    """What a verdict read, in a few words: the top-1 class (classifiers) and the score judged."""
    top = f"top-1 {verdict['top1']} {_num(verdict['top1_score'])}, " if verdict.get("top1") else ""
    return f"{top}{verdict.get('scored') or 'target'} {_num(verdict.get('target_score'))}"


def _verdict(verdict: dict) -> str:
    css = {"worked": "ok", "failed": "no", "inconclusive": "unknown"}[verdict["outcome"]]
    return f'<span class="{css}">{verdict["outcome"]}</span>'


def write_html(path, title: str, summary: dict, photos: list, videos: list, histogram: str | None) -> Path:
    """`photos`: dicts with name, record, annotated, counterfactual (paths relative to the page)."""
    esc = html.escape
    parts = ["<h2>Summary</h2><table>"]
    for key, value in summary.items():
        if isinstance(value, float):
            value = f"{value:.4g}"
        parts.append(f"<tr><th>{esc(str(key))}</th><td>{esc(str(value))}</td></tr>")
    parts.append(f"</table><p>{esc(RATE_NOTE)}. A photo is inconclusive when it cannot credit the outcome the "
                 "attack wants to the attack: e.g. nobody to hide even with the artifact painted over. The "
                 "counterfactual rate is over the same photos, the artifact painted over.</p>")
    if histogram:
        parts.append(f'<h2>Confidence</h2><img src="{esc(histogram)}" alt="confidence histogram">')
    for video in videos:
        s = video["summary"]
        parts.append(f"<h2>Video {esc(Path(s['video']).name)}</h2>")
        if video.get("timeline"):
            parts.append(f'<img src="{esc(video["timeline"])}" alt="timeline">')
        parts.append("<table>")
        for key in ("frames_scored", "expected_frames", "located_rate", "attack_worked_rate", "inconclusive_frames",
                    "not_found_frames", "counterfactual_worked_rate", "mean_target_score",
                    "mean_counterfactual_target_score", "mean_delta_e", "ended"):
            parts.append(f"<tr><th>{key}</th><td>{esc(str(s.get(key)))}</td></tr>")
        parts.append("</table>")
        if video.get("annotated"):
            parts.append(f'<p><a href="{esc(video["annotated"])}">annotated video</a> · '
                         f'<a href="{esc(video["frames_csv"])}">per-frame CSV</a></p>')
        for event in s.get("events", [])[:10]:
            parts.append(f'<p class="note">{esc(event)}</p>')
    if photos:
        parts.append("<h2>Photos</h2><p>Left: the photo as the victim saw it; right: the same photo with the "
                     "artifact painted over (the counterfactual).</p><table><tr><th>photo</th><th>verdict</th>"
                     "<th>found by</th><th>in the rate</th><th>score (painted over)</th><th>ΔE mean</th></tr>")
        for photo in photos:
            record = photo["record"]
            cf = record.get("counterfactual_verdict") or {}
            location = record.get("location") or {}
            colour = record.get("colour") or {}
            images = f'<img src="{esc(photo["annotated"])}" alt="annotated">'
            if photo.get("counterfactual"):
                images += f'<img src="{esc(photo["counterfactual"])}" alt="counterfactual">'
            reason = [record["verdict"]["reason"]] if record["verdict"]["reason"] else []
            notes = "".join(f'<div class="note">{esc(n)}</div>' for n in reason + record.get("notes", []))
            # A sticker set's location says how many of its pieces were found ("2 of 4 stickers found").
            found = (f"{location['found']}: " if location.get("found") else "") + location.get("method", "not found") \
                + (f" ({location['export']})" if location.get("export") else "")
            in_rate = "yes" if counts_in_rate(record) else "no: inconclusive" if record["located"] else \
                "no: artifact not found"
            parts.append(
                f"<tr><td>{esc(photo['name'])}{notes}</td><td>{_verdict(record['verdict'])}</td>"
                f"<td>{esc(found)}</td><td>{esc(in_rate)}</td>"
                f"<td>{esc(_scores(record['verdict']))} ({esc(_scores(cf)) if cf else '–'})</td>"
                f"<td>{_num(colour.get('delta_e_mean'), 1)}</td></tr>"
                f'<tr><td colspan="6"><div class="pair">{images}</div></td></tr>')
        parts.append("</table>")
    return atomic_write_text(path, PAGE.format(title=esc(title), body="\n".join(parts)))
