"""The live demo: frames from a camera, stream or file; detections, the verdict, the marker outline and the FPS
drawn over them; shown in an OpenCV window and/or on a local web page. One bad frame never ends it."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from capture.annotate import annotate, draw_banner, draw_detections
from capture.media import write_image
from capture.prediction import predict_photo
from capture.score import Scorer
from patchgen.errors import UserError
from patchgen.goals.thresholds import FOUND_CONF
from patchgen.image_io import encode_image

WINDOW = "patchgen live"
# Keypoints on every live frame are looked for on a smaller copy: it is the slow path (no markers in view); the fit
# that follows is at full size, so the location is the one `patchgen score` finds.
LIVE_FEATURE_MAX_SIDE = 800


def has_screen() -> bool:
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


@dataclass
class LiveSummary:
    frames: int = 0
    fps: float = 0.0
    seconds: float = 0.0
    failed_frames: int = 0  # frames that raised while being processed (skipped, loop went on)
    first_failure: str = ""  # what the first of them raised
    bad_frames: int = 0  # frames the source delivered unusable
    snapshots: list = field(default_factory=list)
    events: list = field(default_factory=list)
    ended: str = ""

    def to_dict(self) -> dict:
        return {"frames": self.frames, "fps": round(self.fps, 3), "seconds": round(self.seconds, 3),
                "failed_frames": self.failed_frames, "bad_frames": self.bad_frames, "snapshots": self.snapshots,
                "events": self.events[:50], "ended": self.ended}


class LiveDemo:
    """The loop. With a run, every frame is scored as `patchgen score` scores a photo (capture.score.Scorer: the
    same locator, the same counterfactual and the same verdict); without one, the detections alone are drawn."""

    def __init__(self, source, victim, artifact=None, imgsz: int | None = None, conf: float = FOUND_CONF,
                 window: bool = False, server=None, snapshot_dir="snapshots", max_frames: int | None = None,
                 use_features: bool = True, label: str | None = None, log=print):
        self.source, self.victim, self.artifact = source, victim, artifact
        self.imgsz, self.conf = imgsz, float(conf)
        self.window, self.server = window, server
        self.snapshot_dir, self.max_frames = Path(snapshot_dir), max_frames
        self.log = log
        self.scorer = None
        if artifact is not None:
            self.scorer = Scorer(artifact, victim, conf=conf, imgsz=imgsz, use_features=use_features,
                                 feature_max_side=LIVE_FEATURE_MAX_SIDE, label=label)
        self.show_counterfactual = False
        self.fps = 0.0
        self._stop = False
        self._last_annotated = None
        self._last_raw = None
        self._last_location = None  # where the artifact was in the previous frame: tried first in the next
        self.last_score = None  # the last frame's FrameScore (with a run)
        self.summary = LiveSummary()

    def stop(self):
        self._stop = True

    def process(self, rgb: np.ndarray) -> np.ndarray:
        """Annotated copy of one frame (raises on a frame it cannot handle; the loop catches that)."""
        speed = (f"{self.fps:4.1f} fps  imgsz {self.imgsz or self.victim.imgsz}"
                 + ("  COUNTERFACTUAL" if self.show_counterfactual else ""))
        if self.scorer is None:
            prediction = predict_photo(self.victim, rgb, self.imgsz)
            image = np.ascontiguousarray(rgb).copy()
            if self.victim.family == "detector":
                draw_detections(image, prediction, self.victim.names, None, self.conf)
                seen = f"{int((prediction[:, 4] >= self.conf).sum())} detections"
            else:
                seen = f"top-1 {self.victim.names[int(prediction.argmax())]} {prediction.max():.2f}"
            draw_banner(image, [seen, speed], None)
            return image
        location = self.scorer.locate(rgb, hint=self._last_location)
        self._last_location = location
        score = self.last_score = self.scorer.score(rgb, with_colour=False, location=location)
        return annotate(rgb, score, self.victim.names, self.scorer.class_ids, self.conf, title=speed,
                        counterfactual=self.show_counterfactual and score.counterfactual_image is not None)

    def snapshot(self):
        if self._last_annotated is None:
            return
        n = len(self.summary.snapshots) + 1
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = self.snapshot_dir / f"snapshot_{stamp}_{n:03d}.jpg"
        write_image(path, self._last_annotated)
        write_image(path.with_name(path.stem + "_raw.png"), self._last_raw)
        self.summary.snapshots.append(str(path))
        self.log(f"snapshot saved: {path}")

    def handle(self, action: str):
        if action == "snapshot":
            self.snapshot()
        elif action == "toggle":
            self.show_counterfactual = not self.show_counterfactual
            if self.show_counterfactual and self.artifact is None:
                self.log("counterfactual needs --run (there is no artifact to paint over)")
        elif action == "quit":
            self.stop()

    def _show(self, image):
        if self.window:
            try:
                cv2.imshow(WINDOW, image[:, :, ::-1])
                key = cv2.waitKey(1) & 0xFF
            except cv2.error as err:  # no GUI backend after all: carry on without the window
                self.window = False
                self._event(f"window closed: {str(err).strip().splitlines()[-1]}")
                key = 255
            self.handle({ord("s"): "snapshot", ord("c"): "toggle", ord("q"): "quit", 27: "quit"}.get(key, ""))
        if self.server is not None:
            self.server.publish(encode_image(image, ".jpg", 80), frames=self.summary.frames, fps=self.fps,
                                counterfactual=self.show_counterfactual, snapshots=len(self.summary.snapshots),
                                message=self.summary.events[-1] if self.summary.events else "running")
            for action in self.server.take_requests():
                self.handle(action)

    def _event(self, message):
        self.summary.events.append(message)
        if len(self.summary.events) <= 20:
            self.log(message)

    def run(self) -> LiveSummary:
        self.source.on_event = self._event
        started = last = None
        try:
            for _index, rgb in self.source.frames():
                if self._stop:
                    break
                try:
                    annotated = self.process(rgb)
                except UserError:  # the user's to settle (e.g. which export the camera shows): stop, say it once
                    raise
                except Exception as err:  # the demo goes on; the frame is reported and dropped
                    self.summary.failed_frames += 1
                    self.summary.first_failure = self.summary.first_failure or f"{err.__class__.__name__}: {err}"
                    self._event(f"frame {self.summary.frames + self.summary.failed_frames} failed: "
                                f"{err.__class__.__name__}: {err}")
                    continue
                now = time.perf_counter()
                if started is None:
                    started = now
                elif now > last:
                    self.fps = 0.9 * self.fps + 0.1 * (1.0 / (now - last)) if self.fps else 1.0 / (now - last)
                last = now
                self.summary.frames += 1
                self._last_annotated, self._last_raw = annotated, rgb
                try:
                    self._show(annotated)
                except OSError as err:  # a snapshot that cannot be written, a viewer gone: say so, go on
                    self._event(f"frame {self.summary.frames}: could not show or save: {err}")
                if self._stop or (self.max_frames and self.summary.frames >= self.max_frames):
                    break
        finally:
            self.source.close()
            if self.window:
                cv2.destroyAllWindows()
        if started is not None and self.summary.frames > 1 and last > started:
            # Frames per second over the whole run (the first frame's start-up cost excluded).
            self.summary.fps = (self.summary.frames - 1) / (last - started)
            self.summary.seconds = last - started
        self.summary.bad_frames = self.source.bad_frames
        self.summary.ended = ("stopped" if self._stop else
                              f"{self.max_frames} frames done" if self.max_frames and
                              self.summary.frames >= self.max_frames else self.source.ended or "source ended")
        return self.summary
