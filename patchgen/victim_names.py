"""Victim names told apart without torch: config.py reads them before torch loads (seconds). Each name belongs to
the first registry victim kind whose pattern it matches (patchgen/registry.py: classifiers `mobilenet_v2-imagenet`,
`torchvision:ARCH:PATH`, `cifar_resnetDEPTH:PATH`; the face detector `nudenet-320n`; query-only `PATH.onnx`,
`opencv_dnn:PATH`, `http(s)://...`); everything else names an Ultralytics detector (a model file or an official
name)."""

import difflib
import os
import re

from patchgen import registry

MOBILENET_V2_IMAGENET = "mobilenet_v2-imagenet"
TORCHVISION_PREFIX = "torchvision:"
CIFAR_RESNET = re.compile(r"cifar_resnet(\d*):")  # the depth is checked where the model is built
OPENCV_DNN_PREFIX = "opencv_dnn:"
CLASSIFIER_FORMS = f"{MOBILENET_V2_IMAGENET}, {TORCHVISION_PREFIX}ARCH:PATH, cifar_resnet20:PATH"


def victim_kind(name: str) -> str:
    """The registry's victim kind whose pattern the name matches first (the last matches every name)."""
    return next(kind for kind, plugin in registry.PLUGINS["victim"].items() if re.fullmatch(plugin.pattern, str(name)))


def family_of(name: str) -> str:
    """The family a victim name's kind declares; "" for a query-only kind, whose settings say it."""
    return registry.PLUGINS["victim"][victim_kind(name)].family


def classifier_meant(name: str) -> str | None:
    """The classifier form a name that reads as a detector was probably meant as (a typo of a built-in name, a
    CIFAR ResNet or torchvision classifier without its weights file), else None: such a name would otherwise be
    taken for a detector and every message after would speak of detectors."""
    if os.path.isfile(os.path.expanduser(name)) or family_of(name) == "classifier":
        return None
    close = difflib.get_close_matches(name.lower(), [MOBILENET_V2_IMAGENET], n=1, cutoff=0.8)
    if close:
        return close[0]
    if re.fullmatch(r"cifar_?resnet\d*", name, re.IGNORECASE):
        return f"{name.lower().replace('cifarresnet', 'cifar_resnet')}:PATH (its weights file)"
    if name.lower().startswith("torchvision"):
        return f"{TORCHVISION_PREFIX}ARCH:PATH (e.g. torchvision:resnet18:resnet18.pth)"
    return None


def absolute_victim(name: str) -> str:
    """The same victim named from any folder: a weights path inside a classifier name, or a model file, made
    absolute; other names (official Ultralytics, built in) unchanged."""
    if name.startswith(TORCHVISION_PREFIX):
        architecture, sep, path = name[len(TORCHVISION_PREFIX):].partition(":")
        return f"{TORCHVISION_PREFIX}{architecture}:{_absolute(path)}" if sep and path else name
    if CIFAR_RESNET.match(name) or name.startswith(OPENCV_DNN_PREFIX):
        form, _, path = name.partition(":")
        return f"{form}:{_absolute(path)}" if path else name
    if name and os.path.isfile(os.path.expanduser(name)):
        return _absolute(name)
    return name


def _absolute(path: str) -> str:
    return os.path.abspath(os.path.expanduser(path))
