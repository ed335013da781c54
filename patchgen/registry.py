"""The engine's plug-ins by name: goals, placements, artifact kinds, loss terms, victim families, optimisers and
victim kinds.

Each entry names where its code lives ("module:attribute") and is imported only when a run uses it, so the config
can be checked against these names before torch loads. A new plug-in is a new small file and one line here; what
the config check needs to know about it (a goal's family, whether it needs a class) sits beside that line."""

import importlib
from dataclasses import dataclass

from patchgen.errors import UserError


@dataclass(frozen=True)
class Plugin:
    where: str  # "package.module:attribute"
    family: str = ""  # goals: the victim family whose output the loss reads
    placement: str = ""  # goals: the placement used when the config names none
    needs_class: bool = False  # goals: goal_class must name a class of the victim
    uses_targets: bool = False  # goals: only images with target boxes are trained on
    placements: tuple = ()  # artifacts: the placements that can hold it, its own default first
    needs: tuple = ()  # artifacts: the config keys it cannot do without
    on_boxes: bool = False  # placements: puts the artifact on target boxes; families: scenes hold such boxes
    exporter: str = ""  # artifacts: "module:function" that writes its print files (`patchgen export`)
    # the config keys (or sections) that only runs using this plug-in read: a run that uses none of their readers
    # and sets one of them to other than its default is refused, rather than recording a value it ignores
    uses: tuple = ()
    # optimisers, victim kinds: "module:Class" of the plug-in's own settings (a dataclass in its file, torch-free),
    # composed into the config as a section named after the plug-in (optimizer.NAME, adapter.NAME)
    settings: str = ""
    gradients: bool = False  # optimisers: needs a differentiable victim (backward through it)
    pattern: str = ""  # victim kinds: a regular expression the whole victim name matches (the first entry wins)
    differentiable: bool = True  # victim kinds: gradients reach the input (else it answers queries only)


PLUGINS = {
    "goal": {
        "vanish": Plugin("patchgen.goals.vanish:Vanish", "detector", "on_targets", uses_targets=True,
                         uses=("loss.vanish_scope", "loss.vanish_log")),
        "mislabel": Plugin("patchgen.goals.mislabel:Mislabel", "detector", "on_targets", True, True,
                           uses=("goal_class",)),
        "appear": Plugin("patchgen.goals.appear:Appear", "detector", "anywhere", True, uses=("goal_class",)),
        "untargeted": Plugin("patchgen.goals.untargeted:Untargeted", "classifier", "anywhere"),
        "targeted": Plugin("patchgen.goals.targeted:Targeted", "classifier", "anywhere", True,
                             uses=("goal_class", "loss.targeted_margin")),
    },
    "placement": {
        "on_targets": Plugin("patchgen.placements.on_targets:OnTargets", on_boxes=True,
                             uses=("placement.scale", "placement.anchor_y")),
        "anywhere": Plugin("patchgen.placements.anywhere:Anywhere", uses=("placement.area",)),
        "torso": Plugin("patchgen.placements.torso:Torso", on_boxes=True, uses=("placement.region",)),
        "in_box": Plugin("patchgen.placements.in_box:InBox", on_boxes=True),
        "whole_image": Plugin("patchgen.placements.whole_image:WholeImage"),
    },
    "artifact": {
        # a patch takes the goal's own placement (on the targets, or anywhere for phantoms and classifiers)
        "patch": Plugin("patchgen.artifacts.patch:Patch", placements=("", "on_targets", "anywhere", "whole_image"),
                        exporter="printing.export:export_run", uses=("artifact.shape", "artifact.cell")),
        "texture": Plugin("patchgen.artifacts.texture:Texture", placements=("torso", "on_targets", "anywhere"),
                          exporter="printing.texture_export:export_texture", uses=("artifact.crop", "artifact.cell")),
        "camouflage": Plugin("patchgen.artifacts.camouflage:Camouflage", placements=("torso", "on_targets", "anywhere"),
                             needs=("artifact.reference",), exporter="printing.texture_export:export_texture",
                             uses=("artifact.crop", "artifact.cell", "artifact.reference", "artifact.colours",
                                   "artifact.temperature")),
        "stickers": Plugin("patchgen.artifacts.stickers:Stickers", placements=("in_box",), needs=("artifact.pieces",),
                           exporter="printing.sticker_export:export_stickers", uses=("artifact.pieces",)),
        # a digital attack: nothing to print
        "pixels": Plugin("patchgen.artifacts.pixels:Pixels", placements=("whole_image",), uses=("artifact.pixels",)),
    },
    "loss term": {
        "tv": Plugin("patchgen.terms.total_variation:TotalVariation"),
        "nps": Plugin("patchgen.terms.printability:Printability", uses=("loss.palette",)),
        "style": Plugin("patchgen.terms.style:Style", uses=("loss.style_image",)),
    },
    "family": {
        # data.crop centres its windows on each target's torso point, so placement.anchor_y is read there too
        "detector": Plugin("patchgen.families.detector:DetectorFamily", on_boxes=True,
                           uses=("target_classes", "data.labels", "data.pseudo_conf", "data.max_targets",
                                 "data.min_box_frac", "data.crop", "placement.anchor_y")),
        "classifier": Plugin("patchgen.families.classifier:ClassifierFamily"),
    },
    "optimizer": {
        "adam": Plugin("patchgen.optimizers.adam:Adam", settings="patchgen.optimizers.adam:Settings",
                       gradients=True, uses=("optimizer.adam",)),
        "random_search": Plugin("patchgen.optimizers.random_search:RandomSearch",
                                settings="patchgen.optimizers.random_search:Settings",
                                uses=("optimizer.random_search",)),
        "nes": Plugin("patchgen.optimizers.nes:NES", settings="patchgen.optimizers.nes:Settings",
                      uses=("optimizer.nes",)),
        "differential_evolution": Plugin("patchgen.optimizers.differential_evolution:DifferentialEvolution",
                                         settings="patchgen.optimizers.differential_evolution:Settings",
                                         uses=("optimizer.differential_evolution",)),
    },
    "victim": {
        # victim kinds: the first whose pattern the whole name matches loads it; loader(name, settings) where
        # settings is the config's adapter.KIND section for kinds that have one (else None)
        "mobilenet_v2": Plugin("patchgen.victims.zoo:mobilenet_v2", "classifier", pattern=r"mobilenet_v2-imagenet"),
        "torchvision": Plugin("patchgen.victims.zoo:torchvision_classifier", "classifier", pattern=r"torchvision:.*"),
        "cifar_resnet": Plugin("patchgen.victims.zoo:cifar_resnet", "classifier", pattern=r"cifar_resnet\d*:.*"),
        "nudenet": Plugin("patchgen.victims.zoo:nudenet", "detector", pattern=r"nudenet(-320n|:320n)?"),
        # query-only kinds: `family` empty, their settings say which (adapter.KIND.family)
        "onnx": Plugin("patchgen.victims.onnx_runtime:load", pattern=r".*\.onnx", differentiable=False,
                       settings="patchgen.victims.onnx_runtime:Settings", uses=("adapter.onnx",)),
        "opencv_dnn": Plugin("patchgen.victims.opencv_dnn:load", pattern=r"opencv_dnn:.*", differentiable=False,
                             settings="patchgen.victims.opencv_dnn:Settings", uses=("adapter.opencv_dnn",)),
        "http": Plugin("patchgen.victims.http_endpoint:load", pattern=r"https?://.*", differentiable=False,
                       settings="patchgen.victims.http_endpoint:Settings", uses=("adapter.http",)),
        # everything else: an Ultralytics checkpoint or yaml, an anchor-YOLOv5 file, an official Ultralytics name
        "ultralytics": Plugin("patchgen.victims.zoo:detector_file", "detector", pattern=r".*"),
    },
}


def names(kind: str) -> list[str]:
    return list(PLUGINS[kind])


def entry(kind: str, name: str, key: str) -> Plugin:
    """The plug-in `name` of `kind`; a UserError naming the config key and the choices when there is none."""
    found = PLUGINS[kind].get(name)
    if found is None:
        raise UserError(f"config key '{key}' must be one of {', '.join(PLUGINS[kind])}, got {name!r}")
    return found


def get(kind: str, name: str):
    """The plug-in's class or function, imported now."""
    return load(PLUGINS[kind][name].where)


def load(where: str):
    """"package.module:attribute", imported now."""
    module, _, attribute = where.partition(":")
    return getattr(importlib.import_module(module), attribute)
