"""Family `detector`: image folders with YOLO labels (or the clean detector's pseudo-labels), target boxes."""

from patchgen.data import crop_around_targets, list_images, load_scenes
from patchgen.errors import UserError


class DetectorFamily:
    @staticmethod
    def check_folder(folder):
        """Images directly in the folder or in its images/ (YOLO layout), before any model loads."""
        list_images(folder)

    @staticmethod
    def load_data(config, folder, victim, goal_plugin, labels=None, quiet=False, training=True):
        """(Scenes, report) of folder at the victim's input size. Training on a goal that attacks target boxes
        keeps only images that have one (capped at data.max_targets each, and cropped if data.crop asks)."""
        data = config.data
        class_ids = [victim.class_id(c) for c in config.target_classes]
        scenes, report = load_scenes(folder, victim.imgsz, class_ids, victim=victim, labels=labels or data.labels,
                                     max_targets=data.max_targets if training else 0,
                                     min_box_frac=data.min_box_frac if training else 0.0, conf=data.pseudo_conf,
                                     quiet=quiet)
        if training and goal_plugin.uses_targets:
            with_targets = scenes.mask.any(1)
            if not with_targets.any():
                raise UserError(f"no {'/'.join(config.target_classes)} targets in {folder}: nothing to attack")
            scenes = scenes.subset(with_targets.nonzero().squeeze(1))
        if training and data.crop:
            scenes = crop_around_targets(scenes, data.crop, config.placement.anchor_y)
        return scenes, report

    @staticmethod
    def evaluate(victim, scenes, artifact, config, goal, placement, batch=8, patch_transform=None, progress=True):
        from patchgen.detector_evaluation import evaluate

        class_ids = [victim.class_id(c) for c in config.target_classes]
        return evaluate(victim, scenes, artifact, class_ids, placement, goal, batch=batch,
                        patch_transform=patch_transform, progress=progress)
