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
                "optimizer.adam.lr": 0.05, **overrides}
    return load_config(None, [f"{k}={v}" for k, v in settings.items()])


def on_targets(side: int, scale: float = 0.2, anchor_y: float = 0.4):
    """The torso placement as a run with these settings would build it, for a side x side artifact."""
    from patchgen.config import PlacementConfig, RunConfig
    from patchgen.placements.on_targets import OnTargets

    return OnTargets(RunConfig(placement=PlacementConfig(scale=scale, anchor_y=anchor_y)), side, 1.0)


def render_on_targets(artifact, mask, scenes, params, scale: float = 0.2, anchor_y: float = 0.4):
    """eot.render with the artifact on each target box's torso (the spine's placement)."""
    from patchgen import eot

    placed = on_targets(artifact.shape[-1], scale, anchor_y).place(scenes, params)
    return eot.render(artifact, mask, scenes.images, placed, params)


def vanish_goal(victim, scope: str = "target", log_weight: float = 0.0):
    """The vanish goal on class 0 (person), with the given loss.vanish_scope and loss.vanish_log."""
    from patchgen.config import LossConfig, RunConfig
    from patchgen.goals.vanish import Vanish

    return Vanish(victim, RunConfig(target_classes=["0"], loss=LossConfig(vanish_scope=scope,
                                                                          vanish_log=log_weight)))
