"""Resolve a victim name or path to a victim: local files first, then official Ultralytics names the Ultralytics way.

Known forms: `nudenet-320n` (embedded face detector), `path/to/model.pt` (any Ultralytics detector checkpoint,
or an anchor-YOLOv5 state-dict file with `state_dict`/`names`/`yaml`), `path/to/model.yaml` (untrained, for
architecture checks), and official Ultralytics names such as `yolov8n.pt` or `yolo11s.pt`.
"""

import os
from pathlib import Path

import torch

from patchgen.errors import UserError

EMBEDDED = ("nudenet-320n",)
OFFLINE_ENV = "PATCHGEN_OFFLINE"  # set in tests and CI: never try a download


def official_names() -> list[str]:
    from ultralytics.utils.downloads import GITHUB_ASSETS_NAMES

    detectors = (n for n in GITHUB_ASSETS_NAMES if n.endswith(".pt") and n.startswith("yolo"))
    return sorted(n for n in detectors if "-" not in n or n.rpartition("-")[2] == "u.pt")


def load_victim(name: str, device="cpu", imgsz: int | None = None):
    victim = _resolve(str(name))
    if imgsz:
        victim.imgsz = int(imgsz)
    return victim.to(device)


def _resolve(name: str):
    if name in EMBEDDED or name in ("nudenet", "nudenet:320n"):
        from patchgen.victims.nudenet_face import load_nudenet_face

        return load_nudenet_face()
    path = Path(name).expanduser()
    if path.is_file():
        return _from_file(path, name)
    if path.suffix in (".yaml", ".yml") and path.name.startswith("yolo") and not path.parent.parts:
        return _from_ultralytics(name, name)  # a stock architecture yaml that ships inside ultralytics
    if name in official_names():
        return _official(name)
    if path.suffix or os.sep in name:
        raise UserError(f"model file not found: {name}")
    known = ", ".join(list(EMBEDDED) + [n for n in official_names() if n[-4] == "n"][:12])
    raise UserError(f"unknown model {name!r}; give a path to a .pt/.yaml file or a known name ({known}, ...)")


def _from_file(path: Path, name: str):
    if path.suffix == ".pt":
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:
            checkpoint = None  # an Ultralytics checkpoint holds pickled classes: Ultralytics loads those
        if isinstance(checkpoint, dict) and {"state_dict", "names", "yaml"} <= set(checkpoint):
            from patchgen.victims.yolov5_anchor import AnchorYOLOv5

            return AnchorYOLOv5(checkpoint, name=name)
    elif path.suffix not in (".yaml", ".yml"):
        raise UserError(f"{name}: a victim must be a .pt checkpoint or a model .yaml")
    return _from_ultralytics(str(path), name)


def _from_ultralytics(source: str, name: str):
    from ultralytics import YOLO

    from patchgen.victims.ultralytics_detector import UltralyticsDetector, names_list

    try:
        yolo = YOLO(source, task="detect")
    except Exception as err:  # a corrupt file or a non-detector checkpoint
        raise UserError(f"{name}: Ultralytics could not load it ({type(err).__name__}: {err})") from None
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
