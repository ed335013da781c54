"""The loaders of the built-in victim kinds (patchgen/registry.py, kind "victim": the first kind whose pattern a
name matches loads it), and `load_victim`, which asks the registry. Detector names that match no other kind are
local files first, then official Ultralytics names the Ultralytics way.

Classifiers: `mobilenet_v2-imagenet` (torchvision MobileNetV2 with ImageNet weights from an installed package),
`torchvision:ARCH:PATH` (any torchvision classification architecture, weights from a local state-dict file) and
`cifar_resnetDEPTH:PATH` (the CIFAR-10 ResNets 20/32/44/56/110/1202, e.g. akamaster's `resnet20-12fca82f.th`).
Detectors: `nudenet-320n` (embedded face detector), `path/to/model.pt` (any Ultralytics detector checkpoint,
or an anchor-YOLOv5 state-dict file with `state_dict`/`names`/`yaml`), `path/to/model.yaml` (untrained, for
architecture checks), and official Ultralytics names such as `yolov8n.pt` or `yolo11s.pt`.
Query-only kinds (an ONNX file, an OpenCV dnn graph, an HTTP endpoint) load from their own files with their
config settings. Python callers may also pass a victim they built (a DetectorVictim, or a ClassifierVictim from
`classifier_from_module`).
"""

import os
from pathlib import Path

import torch

from patchgen import registry
from patchgen.errors import UserError, require_file
from patchgen.victim_names import CIFAR_RESNET, CLASSIFIER_FORMS, TORCHVISION_PREFIX, victim_kind
from patchgen.victims.classifier import warn_far_input_size
from patchgen.victims.state_dict_file import describe_checkpoint

EMBEDDED = ("nudenet-320n",)
OFFLINE_ENV = "PATCHGEN_OFFLINE"  # set in tests and CI: never try a download


def official_names() -> list[str]:
    from ultralytics.utils.downloads import GITHUB_ASSETS_NAMES

    detectors = (n for n in GITHUB_ASSETS_NAMES if n.endswith(".pt") and n.startswith("yolo"))
    return sorted(n for n in detectors if "-" not in n or n.rpartition("-")[2] == "u.pt")


def load_victim(name_or_victim, device="cpu", imgsz: int | None = None, adapter=None):
    """A victim from its name or path, or one already built (moved to `device`). adapter: the config's adapter
    section, whose entry for a query-only victim kind (an ONNX file, an HTTP endpoint) holds its settings."""
    if hasattr(name_or_victim, "family"):
        victim = name_or_victim
    elif isinstance(name_or_victim, torch.nn.Module):
        raise TypeError(f"a bare {type(name_or_victim).__name__} is not a victim: wrap it with "
                        "patchgen.victims.classifier_from_module(module, names, imgsz, mean=..., std=...)")
    else:
        name = str(name_or_victim)
        kind = victim_kind(name)
        plugin = registry.PLUGINS["victim"][kind]
        settings = None
        if plugin.settings:
            settings = getattr(adapter, kind) if adapter is not None else registry.load(plugin.settings)()
        victim = registry.load(plugin.where)(name, settings)
    if imgsz:
        # a classifier only: a detector is trained at many scales (multi-scale training, mosaics), so other
        # input sizes are its normal use (a 640 px YOLO at 320 or 1280)
        if victim.family == "classifier":
            warn_far_input_size(victim, int(imgsz))
        victim.imgsz = int(imgsz)
    return victim.to(device)


def nudenet(name: str, settings=None):
    from patchgen.victims.nudenet_face import load_nudenet_face

    return load_nudenet_face()


def mobilenet_v2(name: str, settings=None):
    from patchgen.victims.torchvision_classifier import load_mobilenet_v2_imagenet

    return load_mobilenet_v2_imagenet(name)


def torchvision_classifier(name: str, settings=None):
    from patchgen.victims.torchvision_classifier import load_torchvision_classifier

    architecture, _, path = name[len(TORCHVISION_PREFIX):].partition(":")
    if not architecture or not path:
        raise UserError(f"{name}: a torchvision classifier is torchvision:ARCH:PATH, e.g. "
                        "torchvision:resnet18:resnet18.pth")
    return load_torchvision_classifier(architecture, path, name)


def cifar_resnet(name: str, settings=None):
    from patchgen.victims.cifar_resnet import load_cifar_resnet

    depth, path = CIFAR_RESNET.match(name).group(1), name.partition(":")[2]
    if not depth or not path:
        raise UserError(f"{name}: a CIFAR ResNet is cifar_resnetDEPTH:PATH, e.g. cifar_resnet20:resnet20.th")
    return load_cifar_resnet(int(depth), path, name)


def detector_file(name: str, settings=None):
    """A detector by file (Ultralytics .pt or .yaml, anchor-YOLOv5 .pt) or by official Ultralytics name."""
    path = Path(name).expanduser()
    if path.exists():
        return _from_file(require_file(path, "victim model"), name)
    if path.suffix in (".yaml", ".yml") and path.name.startswith("yolo") and not path.parent.parts:
        return _from_ultralytics(name, name)  # a stock architecture yaml that ships inside ultralytics
    if name in official_names():
        return _official(name)
    if path.suffix or os.sep in name:
        raise UserError(f"model file not found: {name}")
    known = ", ".join(list(EMBEDDED) + [n for n in official_names() if n[-4] == "n"][:12])
    raise UserError(f"unknown model {name!r}; give a detector (a .pt/.yaml file or a known name: {known}, ...) "
                    f"or a classifier ({CLASSIFIER_FORMS})")


def _from_file(path: Path, name: str):
    if path.suffix == ".pt":
        return _from_checkpoint(path, name)
    if path.suffix not in (".yaml", ".yml"):
        raise UserError(f"{name}: a victim must be a .pt checkpoint or a model .yaml")
    return _from_ultralytics(str(path), name)


def _from_checkpoint(path: Path, name: str):
    """A .pt file, told apart by what it holds before anything runs it: plain tensors (an anchor-YOLOv5 file, or
    weights this tool cannot build), or pickled classes (Ultralytics loads those when they are its own). Each
    other case is one line here, where Ultralytics would answer with two lines of advice to run `yolo`."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # pickled classes, or not a PyTorch file at all
        return _from_pickled_classes(path, name)
    if isinstance(checkpoint, dict) and {"state_dict", "names", "yaml"} <= set(checkpoint):
        from patchgen.victims.yolov5_anchor import AnchorYOLOv5

        return AnchorYOLOv5(checkpoint, name=name)
    raise UserError(f"{name} holds {describe_checkpoint(checkpoint)}, not a detector: a victim .pt is an Ultralytics "
                    "checkpoint or an anchor-YOLOv5 file with state_dict, names and yaml")


def _from_pickled_classes(path: Path, name: str):
    try:
        classes = torch.serialization.get_unsafe_globals_in_checkpoint(path)  # reads the names, runs nothing
    except Exception:
        raise UserError(f"{name} is not a PyTorch checkpoint (empty, truncated or another kind of file)") from None
    if not any(c.startswith("ultralytics.") for c in classes):
        shown = ", ".join(classes[:3]) or "data PyTorch cannot read safely"
        raise UserError(f"{name} is not an Ultralytics checkpoint (it holds {shown}), and not a detector")
    return _from_ultralytics(str(path), name)


def _from_ultralytics(source: str, name: str):
    from ultralytics import YOLO

    from patchgen.victims.ultralytics_detector import UltralyticsDetector, names_list

    try:
        yolo = YOLO(source, task="detect")
    except Exception as err:  # a yaml that is no architecture, a checkpoint from another Ultralytics version
        reason = str(err).strip().splitlines()[0] if str(err).strip() else "no reason given"
        raise UserError(f"{name}: Ultralytics could not build a model from it ({type(err).__name__}: {reason})") \
            from None
    if yolo.task != "detect":
        raise UserError(f"{name} is a {yolo.task} model; patchgen attacks detectors (task 'detect')")
    model = yolo.model
    imgsz = (getattr(model, "args", None) or {}).get("imgsz", 640)
    imgsz = imgsz if isinstance(imgsz, int) else 640
    return UltralyticsDetector(model.float(), names_list(model.names), imgsz=imgsz, name=name)


def _official(name: str):
    from ultralytics.utils import SETTINGS

    cached = Path(SETTINGS["weights_dir"]) / name
    if cached.is_file():
        return _from_ultralytics(str(cached), name)
    if os.environ.get(OFFLINE_ENV):
        raise UserError(f"{name} is not on this machine and downloads are off; put the file at ./{name} or {cached}")
    try:
        return _from_ultralytics(name, name)  # Ultralytics downloads it into its weights dir
    except UserError:
        raise UserError(f"{name} could not be downloaded (offline?); put the file at ./{name} or {cached}") from None
