"""Typed run configuration, loaded from YAML. Unknown keys and bad values are rejected with one line naming the
key; every run writes its resolved config next to its outputs."""

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from patchgen.eot.params import EOTSettings
from patchgen.errors import UserError

OBJECTIVES = ("vanish",)
VANISH_SCOPES = ("image", "target")  # loss.vanish_scope: what one maximum is taken over


@dataclass
class DataConfig:
    train: str = ""  # image folder (YOLO layout: images/ + labels/, or a flat folder)
    val: str = ""  # evaluation folder; empty: evaluate on the training folder
    labels: str = "auto"  # auto | files | pseudo (boxes from the clean victim, cached)
    pseudo_conf: float = 0.25  # confidence a clean detection needs to become a pseudo-label
    max_targets: int = 6  # per image during training (largest boxes first); evaluation uses all
    min_box_frac: float = 0.0  # drop targets whose diagonal is below this fraction of the input size
    crop: int = 0  # train on crop x crop windows around each image's largest target (0: whole images)


@dataclass
class ArtifactConfig:
    kind: str = "patch"
    size: int = 128  # pixels per side
    shape: str = "square"  # square | circle
    init: str = "grey"  # grey | random


@dataclass
class PlacementConfig:
    scale: float = 0.2  # artifact side as a fraction of the target box diagonal
    anchor_y: float = 0.4  # artifact centre, as a fraction of the box height from its top (the torso)


@dataclass
class LossConfig:
    tv: float = 2.5  # total variation weight
    nps: float = 0.01  # non-printability weight
    palette: str = ""  # palette file; empty: the packaged default
    # target: each target's most confident overlapping candidate, averaged (every target gets a gradient each
    # step; holdout AP 0.16 vs 0.37 in BENCHMARKS.md) | image: the image's single most confident one
    vanish_scope: str = "target"


@dataclass
class TrainConfig:
    steps: int = 500
    batch: int = 8
    lr: float = 0.03
    lr_final: float = 0.1  # cosine schedule ends at lr x lr_final
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: bool = True  # bfloat16 autocast on CUDA (ignored on CPU)
    compile: bool = False  # torch.compile the victim
    checkpoint_every: int = 50
    log_every: int = 10


@dataclass
class RunConfig:
    victim: str = ""
    imgsz: int = 0  # 0: the victim's own input size
    target_classes: list[str] = field(default_factory=lambda: ["person"])
    objective: str = "vanish"
    colour_model: str = ""  # a fitted printer colour model (printing/), applied inside EOT
    data: DataConfig = field(default_factory=DataConfig)
    artifact: ArtifactConfig = field(default_factory=ArtifactConfig)
    placement: PlacementConfig = field(default_factory=PlacementConfig)
    eot: EOTSettings = field(default_factory=EOTSettings)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def _coerce(value, kind, key):
    origin = typing.get_origin(kind)
    if dataclasses.is_dataclass(kind):
        if not isinstance(value, dict):
            raise UserError(f"config key '{key}' must be a mapping")
        return from_dict(kind, value, key + ".")
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise UserError(f"config key '{key}' must be true or false, got {value!r}")
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise UserError(f"config key '{key}' must be an integer, got {value!r}")
    if kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise UserError(f"config key '{key}' must be a number, got {value!r}")
    if kind is str:
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            return str(value)
        raise UserError(f"config key '{key}' must be a string, got {value!r}")
    if origin is tuple:
        args = typing.get_args(kind)
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise UserError(f"config key '{key}' must be a list of {len(args)} values, got {value!r}")
        return tuple(_coerce(v, a, key) for v, a in zip(value, args))
    if origin is list:
        (arg,) = typing.get_args(kind)
        items = value if isinstance(value, (list, tuple)) else [value]
        return [_coerce(v, arg, key) for v in items]
    raise TypeError(f"unsupported config type {kind} for {key}")  # a bug in this file, not user input


def from_dict(cls, data: dict, prefix: str = ""):
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in known:
            raise UserError(f"unknown config key '{prefix}{key}' (known here: {', '.join(sorted(known))})")
    values = {k: _coerce(v, hints[k], prefix + k) for k, v in data.items()}
    return cls(**values)


def apply_override(data: dict, assignment: str) -> None:
    """`train.steps=30` -> data['train']['steps'] = 30 (the value parsed as YAML)."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key:
        raise UserError(f"--set takes key=value, got {assignment!r}")
    *parents, leaf = key.strip().split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise UserError(f"config key '{key}': '{part}' is not a section")
    node[leaf] = yaml.safe_load(raw)


def load_config(path=None, overrides=()) -> RunConfig:
    data = {}
    if path:
        path = Path(path)
        if not path.is_file():
            raise UserError(f"config file not found: {path}")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise UserError(f"config {path} is not valid YAML: {str(err).splitlines()[0]}") from None
        if not isinstance(data, dict):
            raise UserError(f"config {path} must be a mapping of keys to values")
    for assignment in overrides:
        apply_override(data, assignment)
    config = from_dict(RunConfig, data)
    validate(config)
    return config


def validate(config: RunConfig) -> None:
    if not config.victim:
        raise UserError("config key 'victim' is required (a model path or name, e.g. yolov8n.pt)")
    if not config.data.train:
        raise UserError("config key 'data.train' is required (a folder of images)")
    if config.objective not in OBJECTIVES:
        raise UserError(f"config key 'objective' must be one of {', '.join(OBJECTIVES)}, got {config.objective!r}")
    if config.loss.vanish_scope not in VANISH_SCOPES:
        raise UserError(f"config key 'loss.vanish_scope' must be one of {', '.join(VANISH_SCOPES)}, "
                        f"got {config.loss.vanish_scope!r}")
    checks = [
        ("train.steps", config.train.steps >= 1), ("train.batch", config.train.batch >= 1),
        ("train.lr", config.train.lr > 0), ("artifact.size", config.artifact.size >= 8),
        ("placement.scale", config.placement.scale > 0), ("imgsz", config.imgsz % 32 == 0 and config.imgsz >= 0),
        ("train.checkpoint_every", config.train.checkpoint_every >= 1), ("train.log_every", config.train.log_every >= 1),
    ]  # fmt: skip
    for key, ok in checks:
        if not ok:
            raise UserError(f"config key '{key}' has an invalid value (imgsz must be a multiple of 32)"
                            if key == "imgsz" else f"config key '{key}' has an invalid value")


def to_dict(config: RunConfig) -> dict:
    def plain(value):
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(dataclasses.asdict(config))


def dump_yaml(config: RunConfig) -> str:
    return yaml.safe_dump(to_dict(config), sort_keys=False)
