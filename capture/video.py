"""Score a video file frame by frame (every `stride`-th frame), with the counterfactual on every scored frame."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from capture.annotate import annotate
from capture.frames import FrameSource
from patchgen.atomic import atomic_save
from patchgen.errors import UserError

ANNOTATED_MAX_SIDE = 960


@dataclass
class VideoScore:
    path: str
    rows: list = field(default_factory=list)  # one dict per scored frame
    events: list = field(default_factory=list)
    ended: str | None = None
    fps: float | None = None
    expected_frames: int | None = None
    annotated_video: str | None = None

    def summary(self) -> dict:
        rows = self.rows
        n = len(rows)

        def rate(key):
            values = [r[key] for r in rows if r[key] is not None]
            return round(float(np.mean(values)), 4) if values else None

        # As for photos (capture/report.py RATE_NOTE): the rates are over the frames in which the artifact was
        # found and the verdict is conclusive ("worked" None); the others are counted apart.
        found = [r for r in rows if r["located"]]
        worked = [r["worked"] for r in found if r["worked"] is not None]
        return {"video": self.path, "frames_scored": n, "expected_frames": self.expected_frames,
                "located_rate": rate("located"),
                "attack_worked_rate": round(float(np.mean(worked)), 4) if worked else None,
                "inconclusive_frames": sum(r["outcome"] == "inconclusive" for r in found),
                "not_found_frames": n - len(found),
                "counterfactual_worked_rate": rate("counterfactual_worked"),
                "mean_target_score": rate("target_score"),
                "mean_counterfactual_target_score": rate("counterfactual_target_score"),
                "mean_delta_e": rate("delta_e_mean"), "ended": self.ended, "events": self.events[:50]}


def frame_row(index: int, fps: float | None, score) -> dict:
    cf = score.counterfactual_verdict
    return {"frame": index, "time_s": round(index / fps, 3) if fps else None,
            "located": score.location is not None,
            "method": score.location.method if score.location else "", "top1": score.verdict.top1,
            "target_score": round(score.verdict.target_score, 4), "outcome": score.verdict.outcome,
            "worked": score.verdict.worked, "counterfactual_top1": cf.top1 if cf else None,
            "counterfactual_target_score": round(cf.target_score, 4) if cf else None,
            "counterfactual_worked": cf.worked if cf else None,
            "delta_e_mean": (score.colour or {}).get("delta_e_mean")}


def score_video(path, scorer, stride: int = 1, annotated_path=None, max_frames: int | None = None,
                on_event=None, progress: bool = True) -> VideoScore:
    """Every `stride`-th frame through `scorer`; an annotated copy (MJPG AVI) written if `annotated_path`;
    `progress`: a bar of the frames scored out of those the file says it holds."""
    source = FrameSource(path, on_event=on_event).open()
    result = VideoScore(path=str(path), fps=source.fps, expected_frames=source.expected_frames)
    names, class_ids, conf = scorer.victim.names, scorer.class_ids, scorer.conf
    total = None if source.expected_frames is None else -(-source.expected_frames // stride)
    if max_frames:
        total = max_frames if total is None else min(total, max_frames)

    def run(writer_path=None):
        writer, previous = None, None
        bar = tqdm(total=total, desc=str(path), unit="frame", disable=not progress, file=sys.stderr,
                   dynamic_ncols=True)
        try:
            for index, rgb in source.frames(stride=stride):
                bar.update()
                try:
                    # Where the artifact was in the last frame is tried first (then found afresh if not there).
                    previous = scorer.locate(rgb, hint=previous)
                    score = scorer.score(rgb, location=previous)
                except UserError as err:  # the user's to settle (e.g. which export), not a bad frame
                    raise UserError(f"{path}: frame {index}: {err}") from None
                except Exception as err:  # one bad frame must not lose the rest of the video
                    source.event(f"{path}: frame {index} could not be scored ({err.__class__.__name__}: {err})")
                    continue
                result.rows.append(frame_row(index, source.fps, score))
                if writer_path is not None:
                    frame = annotate(rgb, score, names, class_ids, conf, title=f"frame {index}",
                                     max_side=ANNOTATED_MAX_SIDE)
                    if writer is None:
                        fps = (source.fps or 25.0) / max(1, stride)
                        writer = cv2.VideoWriter(str(writer_path), cv2.VideoWriter_fourcc(*"MJPG"), fps,
                                                 (frame.shape[1], frame.shape[0]))
                    writer.write(np.ascontiguousarray(frame[:, :, ::-1]))
                if max_frames and len(result.rows) >= max_frames:
                    break
        finally:
            bar.close()
            if writer is not None:
                writer.release()
            source.close()

    if annotated_path is not None:
        atomic_save(Path(annotated_path), run)
        if result.rows:
            result.annotated_video = str(annotated_path)
        else:  # nothing was scored: no empty video file left behind
            Path(annotated_path).unlink(missing_ok=True)
    else:
        run()
    result.events, result.ended = list(source.events), source.ended
    return result
