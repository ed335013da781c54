"""Small real setups shared by the spine's tests: two INRIA images, YOLOv5n at 320 px."""

import shutil
from pathlib import Path

from patchgen.config import load_config


def two_image_folder(inria_dev: Path, dest: Path) -> Path:
    for sub in ("images", "labels"):
        (dest / sub).mkdir(parents=True, exist_ok=True)
    for stem in ("crop001501", "person_007"):
        shutil.copyfile(inria_dev / "images" / f"{stem}.jpg", dest / "images" / f"{stem}.jpg")
        shutil.copyfile(inria_dev / "labels" / f"{stem}.txt", dest / "labels" / f"{stem}.txt")
    return dest


def small_config(victim: Path, data: Path, **overrides):
    settings = {"victim": str(victim), "data.train": str(data), "imgsz": 320, "artifact.size": 32,
                "train.batch": 2, "train.steps": 30, "train.log_every": 1, "train.checkpoint_every": 10,
                "train.lr": 0.05, **overrides}
    return load_config(None, [f"{k}={v}" for k, v in settings.items()])
