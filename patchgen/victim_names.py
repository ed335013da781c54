"""Victim names told apart by family without torch: config.py reads them before torch loads (seconds).

Classifier forms: `mobilenet_v2-imagenet` (built in), `torchvision:ARCH:PATH` (any torchvision classification
architecture with a local weights file), `cifar_resnetDEPTH:PATH` (the CIFAR-10 ResNets). Everything else names
a detector: a model file, an official Ultralytics name or `nudenet-320n`."""

import difflib
import os
import re

MOBILENET_V2_IMAGENET = "mobilenet_v2-imagenet"
TORCHVISION_PREFIX = "torchvision:"
CIFAR_RESNET = re.compile(r"cifar_resnet(\d*):")  # the depth is checked where the model is built
CLASSIFIER_FORMS = f"{MOBILENET_V2_IMAGENET}, {TORCHVISION_PREFIX}ARCH:PATH, cifar_resnet20:PATH"


def family_of(name: str) -> str:
    name = str(name)
    if name == MOBILENET_V2_IMAGENET or name.startswith(TORCHVISION_PREFIX) or CIFAR_RESNET.match(name):
        return "classifier"
    return "detector"


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
    if CIFAR_RESNET.match(name):
        form, _, path = name.partition(":")
        return f"{form}:{_absolute(path)}" if path else name
    if name and os.path.isfile(os.path.expanduser(name)):
        return _absolute(name)
    return name


def _absolute(path: str) -> str:
    return os.path.abspath(os.path.expanduser(path))
