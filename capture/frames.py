"""Frames from a camera index, a stream URL or a video file, that keep coming when the source misbehaves.

A bad frame (empty, wrong shape) is skipped and counted; a live source (camera or stream) that stops giving
frames is reopened a few times before giving up; a file that ends early says so. Every such event is kept in
`events` (and passed to `on_event`) so the caller can report it instead of dying."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from patchgen.errors import UserError

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".gif"}


def quiet_opencv():
    """OpenCV prints backend warnings for every failed open; we report failures ourselves, in one line."""
    try:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    except AttributeError:  # an OpenCV without the logging module
        pass


def describe(spec) -> tuple[str, object]:
    """('camera', index) | ('stream', url) | ('file', path) for a --camera argument."""
    text = str(spec).strip()
    if text.isdigit():
        return "camera", int(text)
    if "://" in text:
        return "stream", text
    path = Path(text)
    if not path.exists():
        raise UserError(f"{text}: no such file, and not a camera index or a URL")
    if not path.is_file():
        raise UserError(f"{text}: not a file")
    return "file", str(path)


def to_rgb(frame) -> np.ndarray | None:
    """OpenCV's BGR frame as RGB uint8, or None when the frame is unusable."""
    if frame is None or not isinstance(frame, np.ndarray) or frame.size == 0 or frame.dtype != np.uint8:
        return None
    if frame.ndim not in (2, 3) or min(frame.shape[:2]) < 8:  # a scrap, not a picture
        return None
    if frame.ndim == 2:
        return np.repeat(frame[:, :, None], 3, axis=2)
    if frame.shape[2] not in (3, 4):
        return None
    return np.ascontiguousarray(frame[:, :, 2::-1])


class FrameSource:
    def __init__(self, spec, retries: int = 3, retry_wait_s: float = 0.5, loop: bool = False,
                 max_bad_in_a_row: int = 30, opener=cv2.VideoCapture, on_event=None):
        self.kind, self.target = describe(spec)
        self.spec = str(spec)
        self.retries, self.retry_wait_s, self.loop = retries, retry_wait_s, loop
        self.max_bad_in_a_row = max_bad_in_a_row
        self.opener, self.on_event = opener, on_event
        self.events: list[str] = []
        self.bad_frames = 0
        self.frames_read = 0
        self.ended: str | None = None  # why the frames stopped
        self.capture = None
        self.expected_frames = None
        self.fps = None

    def event(self, message: str):
        self.events.append(message)
        if self.on_event:
            self.on_event(message)

    def _open(self):
        quiet_opencv()
        capture = self.opener(self.target)
        if capture is None or not capture.isOpened():
            return None
        return capture

    def open(self) -> "FrameSource":
        self.capture = self._open()
        if self.capture is None:
            if self.kind == "camera":
                raise UserError(f"camera {self.target} could not be opened (no such device, or it is busy)")
            if self.kind == "stream":
                raise UserError(f"{self.target}: the stream could not be opened")
            raise UserError(f"{self.target}: not a readable video")
        count = self.capture.get(cv2.CAP_PROP_FRAME_COUNT) if hasattr(self.capture, "get") else 0
        fps = self.capture.get(cv2.CAP_PROP_FPS) if hasattr(self.capture, "get") else 0
        self.expected_frames = int(count) if self.kind == "file" and count and count > 0 else None
        self.fps = float(fps) if fps and 0 < fps < 1000 else None
        return self

    def close(self):
        if self.capture is not None:
            self.capture.release()
            self.capture = None

    def __enter__(self):
        return self.open() if self.capture is None else self

    def __exit__(self, *exc):
        self.close()

    def _reopen(self) -> bool:
        """A live source that stopped: release, wait, try again (`retries` times)."""
        for attempt in range(1, self.retries + 1):
            self.close()
            time.sleep(self.retry_wait_s)
            self.capture = self._open()
            if self.capture is not None:
                self.event(f"{self.spec}: reopened after a failed read (attempt {attempt})")
                return True
            self.event(f"{self.spec}: reopen attempt {attempt} of {self.retries} failed")
        return False

    def frames(self, stride: int = 1):
        """Yield (frame_index, rgb) for every `stride`-th frame until the source ends or gives up."""
        if self.capture is None:
            self.open()
        stride = max(1, int(stride))
        index, bad_in_a_row, failed_reads = -1, 0, 0
        while True:
            index += 1
            if index % stride and self.kind == "file":
                # Skipped frames are only grabbed (no decode): striding a file is then cheap.
                if not self.capture.grab():
                    if self._file_ended(index):
                        return
                    index = -1
                continue
            try:
                ok, frame = self.capture.read()
            except cv2.error as err:
                ok, frame = False, None
                self.event(f"{self.spec}: read error at frame {index}: {str(err).strip().splitlines()[-1]}")
            if not ok:
                if self.kind == "file":
                    if self._file_ended(index):
                        return
                    index = -1
                    continue
                failed_reads += 1
                if failed_reads == 1:
                    self.event(f"{self.spec}: no frame at frame {index}; retrying")
                if not self._reopen():
                    self.ended = f"{self.kind} stopped after {self.frames_read} frames and {self.retries} retries"
                    self.event(f"{self.spec}: {self.ended}")
                    return
                index -= 1
                continue
            failed_reads = 0
            rgb = to_rgb(frame)
            if rgb is None:
                self.bad_frames += 1
                bad_in_a_row += 1
                self.event(f"{self.spec}: bad frame {index} skipped")
                if bad_in_a_row >= self.max_bad_in_a_row:
                    self.ended = f"{bad_in_a_row} bad frames in a row"
                    self.event(f"{self.spec}: giving up after {self.ended}")
                    return
                continue
            bad_in_a_row = 0
            self.frames_read += 1
            yield index, rgb

    def _file_ended(self, index: int) -> bool:
        """True when the file is done; False when it was rewound to loop."""
        if self.expected_frames and index < self.expected_frames - 1:
            self.event(f"{self.spec}: video ended early, at frame {index} of {self.expected_frames} "
                       f"(truncated or corrupt file)")
        if self.loop and self.frames_read > 0:
            self.close()
            self.capture = self._open()
            if self.capture is not None:
                return False
        self.ended = self.ended or f"end of file after {index} frames"
        return True
