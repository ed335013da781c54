"""patchgen: physical-world adversarial attacks, from optimizer to printer to camera."""

import os

# Ultralytics would otherwise pip-install packages at run time (e.g. pi-heif when PIL cannot open a corrupt file):
# a surprise for users and a hang offline. Set before anything imports ultralytics; a user's own setting wins.
os.environ.setdefault("YOLO_AUTOINSTALL", "false")
# OpenCV's and FFmpeg's own log lines (a truncated video, a stream that drops) would leak to the terminal beside
# patchgen's one-line messages; patchgen reports those conditions itself. Set before anything imports cv2.
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET

# Ultralytics' own log lines (the settings banner on first use, "WARNING ... improperly saved" for a file it
# half-recognises) would print beside patchgen's messages, which say what went wrong themselves. Errors still show.
os.environ.setdefault("YOLO_VERBOSE", "false")

__version__ = "0.1.0"

# The Python API (patchgen/api.py) loads on first use: `import patchgen` stays free of torch, as the commands'
# config checks need it to be (a config error is one line before torch loads).
_API = ("train", "evaluate", "load", "Run", "LoadedArtifact")


def __getattr__(name: str):
    if name in _API:
        from patchgen import api

        return getattr(api, name)
    raise AttributeError(f"module 'patchgen' has no attribute {name!r}")
