"""Family `classifier`: image folders with one class per subfolder (or a labels.tsv), one label per image."""

from patchgen.class_folders import check_class_folder, load_class_images


class ClassifierFamily:
    @staticmethod
    def check_folder(folder):
        check_class_folder(folder)

    @staticmethod
    def load_data(config, folder, victim, goal_plugin, labels=None, quiet=False, training=True):
        """(Scenes, report) of folder at the victim's input size. A goal aiming at a class leaves that class's
        images out: an image already of the goal class would count as a success the artifact did not earn."""
        exclude = [victim.class_id(config.goal_class)] if goal_plugin.needs_class else []
        return load_class_images(folder, victim, exclude_classes=exclude, quiet=quiet)

    @staticmethod
    def evaluate(victim, scenes, artifact, config, goal, placement, batch=8, patch_transform=None, progress=True):
        from patchgen.classifier_evaluation import evaluate_classifier

        return evaluate_classifier(victim, scenes, artifact, placement, goal, batch=batch,
                                   patch_transform=patch_transform, progress=progress)
