"""The engine's plug-ins by name: goals, placements, artifact kinds, loss terms and victim families.

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


PLUGINS = {
    "goal": {
        "vanish": Plugin("patchgen.goals.vanish:Vanish", "detector", "on_targets", uses_targets=True,
                         uses=("loss.vanish_scope", "loss.vanish_log")),
        "mislabel": Plugin("patchgen.goals.mislabel:Mislabel", "detector", "on_targets", True, True,
                           uses=("goal_class",)),
        "appear": Plugin("patchgen.goals.appear:Appear", "detector", "anywhere", True, uses=("goal_class",)),
        "untargeted": Plugin("patchgen.goals.untargeted:Untargeted", "classifier", "anywhere"),
        "targeted": Plugin("patchgen.goals.targeted:Targeted", "classifier", "anywhere", True, uses=("goal_class",)),
    },
    "placement": {
        "on_targets": Plugin("patchgen.placements.on_targets:OnTargets", on_boxes=True,
                             uses=("placement.scale", "placement.anchor_y")),
        "anywhere": Plugin("patchgen.placements.anywhere:Anywhere", uses=("placement.area",)),
        "torso": Plugin("patchgen.placements.torso:Torso", on_boxes=True, uses=("placement.region",)),
        "in_box": Plugin("patchgen.placements.in_box:InBox", on_boxes=True),
    },
    "artifact": {
        # a patch takes the goal's own placement (on the targets, or anywhere for phantoms and classifiers)
        "patch": Plugin("patchgen.artifacts.patch:Patch", placements=("", "on_targets", "anywhere"),
                        exporter="printing.export:export_run", uses=("artifact.shape",)),
        "texture": Plugin("patchgen.artifacts.texture:Texture", placements=("torso", "on_targets", "anywhere"),
                          exporter="printing.texture_export:export_texture", uses=("artifact.crop", "artifact.cell")),
        "camouflage": Plugin("patchgen.artifacts.camouflage:Camouflage", placements=("torso", "on_targets", "anywhere"),
                             needs=("artifact.reference",), exporter="printing.texture_export:export_texture",
                             uses=("artifact.crop", "artifact.cell", "artifact.reference", "artifact.colours",
                                   "artifact.temperature")),
        "stickers": Plugin("patchgen.artifacts.stickers:Stickers", placements=("in_box",), needs=("artifact.pieces",),
                           exporter="printing.sticker_export:export_stickers", uses=("artifact.pieces",)),
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
