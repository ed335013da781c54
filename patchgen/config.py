"""Typed run configuration, loaded from YAML. Unknown keys and bad values are rejected with one line naming the
key, the value and what is allowed; every run writes its resolved config next to its outputs.

Torch-free on purpose: a config error is reported before torch or Ultralytics loads (seconds)."""

import copy
import dataclasses
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from patchgen import registry
from patchgen.errors import UserError, require_file
from patchgen.goals.thresholds import FOUND_CONF
from patchgen.ranges import number
from patchgen.victim_names import CLASSIFIER_FORMS, absolute_victim, classifier_meant, family_of, victim_kind

LABEL_MODES = ("auto", "files", "pseudo")
SHAPES = ("square", "circle")  # or the path of a PNG whose alpha is the shape
INITS = ("grey", "random")
ADVERSARIAL = "adversarial"  # the goal's own term in loss.weights; the others are registry 'loss term's
VANISH_SCOPES = ("image", "target")  # loss.vanish_scope: what one maximum is taken over
MAX_SEED = 2**64 - 1  # torch.Generator.manual_seed takes at most 64 bits
UNORDERED_PAIRS = ("centre", "temperature")  # pairs that are not a (low, high) range: a point, a schedule
SHIPPED = Path(__file__).parent / "configs"  # the starter configs, run by name: `patchgen train toaster`
NOT_BY_NAME = ("demo",)  # shipped, but `patchgen demo` runs it: it supplies the demo's images and frame
# what data.train must hold, per victim family, and where such images come from (the message for a missing one)
DATA_LAYOUTS = {
    "detector": "a folder of images with the target_classes in them: images/ + labels/ (YOLO .txt files, one "
                "`class cx cy w h` line per box, the victim's class ids) or a flat folder of images (labelled by "
                "what the clean victim finds, cached); for people, INRIA Person's images "
                "(pascal.inrialpes.fr/data/human) or your own photos, for other classes COCO val2017 in YOLO layout",
    "classifier": "a folder of images, one subfolder per class (its name, index or ImageNet WordNet id such as "
                  "n04442312) or a flat folder with labels.tsv (`file<TAB>class_index`); for ImageNet victims a few "
                  "validation images per class (e.g. github.com/EliSchwartz/imagenet-sample-images), for CIFAR-10 "
                  "ones its test images",
}


@dataclass
class DataConfig:
    train: str = ""  # image folder (YOLO layout: images/ + labels/, or a flat folder)
    val: str = ""  # evaluation folder; empty: evaluate on the training folder
    labels: str = "auto"  # auto | files | pseudo (boxes from the clean victim, cached)
    pseudo_conf: float = number(FOUND_CONF, 0, 1, open_low=True)  # confidence a clean detection needs to be a label
    max_targets: int = number(6, 0)  # per image during training (largest boxes first; 0: all); evaluation uses all
    min_box_frac: float = number(0.0, 0, 1)  # drop targets whose diagonal is below this fraction of the input
    crop: int = number(0, 0, 8192)  # train on crop x crop windows, one around each target (0: whole images)


@dataclass
class StickerPiece:
    """One sticker of a `stickers` artifact (placement in_box): where it goes on the object and how large."""

    centre: tuple[float, float] = number((0.5, 0.5), 0, 1)  # fractions of the box width and height from its top-left
    side: float = number(0.1, 0, 1, open_low=True)  # the piece's side as a fraction of the box diagonal
    shape: str = "square"  # square | circle | path/to/mask.png


@dataclass
class ArtifactConfig:
    kind: str = "patch"  # patch | texture | camouflage | stickers | pixels
    size: int = number(128, 8, 4096)  # pixels per side (texture, camouflage: of the tile; stickers: of each piece)
    shape: str = "square"  # square | circle | path/to/mask.png (its alpha channel is the shape)
    init: str = "grey"  # grey | random
    # texture, camouflage: the side of the square read from the infinite tiling at a random place per instance
    # (0: the tile's own size); cell: tile pixels per trained value (blobs: camouflage looks natural at 8 or more;
    # a patch upsamples its values smoothly, a low-resolution encoding for search and fooling images)
    crop: int = number(0, 0, 4096)
    cell: int = number(1, 1, 256)
    # camouflage: the palette is `colours` colours picked by k-means (CIELAB) from the reference photo; each pixel
    # is a soft choice among them whose temperature falls from the first value to the second over training
    reference: str = ""
    colours: int = number(4, 2, 64)
    temperature: tuple[float, float] = number((1.0, 0.05), 0, 100, open_low=True)
    pieces: list[StickerPiece] = field(default_factory=list)  # stickers: one entry per piece
    pixels: int = number(1, 1, 4096)  # pixels: how many single pixels it sets (Su et al.: 1, 3, 5)


@dataclass
class PlacementConfig:
    kind: str = ""  # on_targets | anywhere; empty: the goal's own (vanish, mislabel: on_targets; others: anywhere)
    # on_targets
    scale: float = number(0.2, 0, 4, open_low=True)  # artifact side as a fraction of the target box diagonal
    anchor_y: float = number(0.4, 0, 1)  # artifact centre, as a fraction of the box height from its top (torso)
    # anywhere: the artifact's visible (masked) area as a fraction of the image's, at a uniform random place
    area: float = number(0.1, 0, 0.5, open_low=True)
    # torso: the region of each target box a texture covers, x1 y1 x2 y2 as fractions of the box (shirt front)
    region: tuple[float, float, float, float] = number((0.15, 0.18, 0.85, 0.55), 0, 1)


@dataclass
class EOTSettings:
    """Expectation over transformation: the ranges every step draws from (patchgen.eot.sample).
    Defaults follow Thys et al. 2019: rotation ±20°, contrast 0.8–1.2, brightness ±0.1, noise ±0.1."""

    rotation_deg: float = number(20.0, 0, 180)  # uniform ±
    scale: tuple[float, float] = number((0.9, 1.1), 0, 10, open_low=True)  # multiplies the placement's side
    translate: float = number(0.05, 0, 1)  # uniform ± fraction of the artifact side, x and y
    perspective: float = number(0.06, 0, 0.45)  # each corner moves uniform ± this fraction of the side
    brightness: float = number(0.1, 0, 1)  # additive, uniform ±
    contrast: tuple[float, float] = number((0.8, 1.2), 0, 10)  # multiplicative
    noise: float = number(0.1, 0, 1)  # per-pixel additive, uniform ±
    # Gaussian blur in artifact pixels; a sigma of 0 divides by zero in the kernel
    blur_sigma: tuple[float, float] = number((0.1, 1.0), 0, 50, open_low=True)
    colour_jitter: float = number(0.03, 0, 1)  # per-channel gain uniform ±: slack around the printer's colours
    # cloth: a thin-plate-spline warp through tps_grid x tps_grid control points, each moved uniform ± this
    # fraction of the artifact side (0: no warp)
    tps: float = number(0.0, 0, 0.25)
    tps_grid: int = number(4, 2, 16)


@dataclass
class LossConfig:
    # each term's weight in the loss: the goal's own (adversarial) and the registry's loss terms (tv: total
    # variation, nps: non-printability); a term left out keeps its default, weight 0 switches it off. Beyond 1000 a
    # term alone reaches float32's range in the sum (inf loss, nan gradient)
    weights: dict[str, float] = number(lambda: {ADVERSARIAL: 1.0, "tv": 2.5, "nps": 0.01}, 0, 1000)
    palette: str = ""  # palette file; empty: the packaged default
    style_image: str = ""  # the style term's reference image (its feature statistics are what it matches)
    # target: each target's most confident overlapping candidate, averaged (every target gets a gradient each
    # step; `image` stalled early on the person benchmark: BENCHMARKS.md) | image: the image's single most
    # confident one (Thys et al.'s OBJ loss)
    vanish_scope: str = "target"
    # vanish: each maximum's confidence c (Thys et al.) plus this weight x log(max(c, 0.001)). Its push on the logit
    # stays near the weight all the way down to the AP's confidence floor (0.001), where c's own fades as c does: it
    # keeps pushing people already under 0.25 down the AP's ranking (the log alone neglects the confident ones). On
    # the person benchmark it did not beat 0 (BENCHMARKS.md), so 0 stays the default
    vanish_log: float = number(0.0, 0, 10)
    # targeted: 0 cross-entropy; m > 0 the best other class's log-probability minus the goal's, floored at -m
    targeted_margin: float = number(0.0, 0, 100)


@dataclass
class TrainConfig:
    steps: int = number(500, 1)
    batch: int = number(8, 1)
    seed: int = number(0, 0, MAX_SEED)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: bool = True  # bfloat16 autocast on CUDA (ignored on CPU)
    compile: bool = False  # torch.compile the victim (CUDA graphs on CUDA; eager where compiling fails)
    checkpoint_every: int = number(50, 1)
    log_every: int = number(10, 1)
    # end early once the goal succeeds on every training image (a per-image attack: Su et al. stop at the first
    # success); checked after each step on the images as evaluation shows them
    stop_on_success: bool = False


def plugin_settings(kind: str, default: str = ""):
    """A config section with each `kind` plug-in's own settings (the dataclass in its file) under the plug-in's name,
    and, given a default, `kind`: the one the run uses (optimizer.kind, optimizer.nes.sigma)."""
    fields = [("kind", str, field(default=default))] if default else []
    for name, plugin in registry.PLUGINS[kind].items():
        if plugin.settings:
            settings = registry.load(plugin.settings)
            fields.append((name, settings, field(default_factory=settings)))
    return dataclasses.make_dataclass(f"{kind.title()}Sections", fields)


OptimizerConfig = plugin_settings("optimizer", "adam")
AdapterConfig = plugin_settings("victim")  # a query-only victim's settings: adapter.onnx, adapter.http, ...
ACCESS = ("auto", "white_box", "query")  # victim_access


@dataclass
class QueryConfig:
    """What a run that reaches its victim by queries only may spend (patchgen/queries.py)."""

    budget: int = number(100_000, 1)  # images shown to the victim at most: the run ends before a step would pass it
    batch: int = number(256, 1)  # images per call to the victim


@dataclass
class RunConfig:
    victim: str = ""
    # auto: by queries only when the victim answers nothing else or the optimiser needs no gradients | white_box |
    # query (a white-box victim attacked as if it answered queries only: scores, counted against query.budget)
    victim_access: str = "auto"
    imgsz: int = number(0, 0, 8192)  # 0: the victim's own input size; else a multiple of 32
    target_classes: list[str] = field(default_factory=lambda: ["person"])  # detectors: the boxes attacked
    goal: str = "vanish"  # vanish | mislabel | appear (detectors); untargeted | targeted (classifiers)
    goal_class: str = ""  # the class mislabel, appear and targeted aim for (a name or an index)
    colour_model: str = ""  # a fitted printer colour model (printing/), applied inside EOT
    data: DataConfig = field(default_factory=DataConfig)
    artifact: ArtifactConfig = field(default_factory=ArtifactConfig)
    placement: PlacementConfig = field(default_factory=PlacementConfig)
    eot: EOTSettings = field(default_factory=EOTSettings)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    query: QueryConfig = field(default_factory=QueryConfig)
    adapter: AdapterConfig = field(default_factory=AdapterConfig)


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
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise UserError(f"config key '{key}' must be a number, got {value!r}")
    if kind is str:
        if isinstance(value, os.PathLike):  # a pathlib.Path from Python
            return os.fspath(value)
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            return str(value)
        raise UserError(f"config key '{key}' must be a string, got {value!r}")
    if origin is tuple:
        args = typing.get_args(kind)
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise UserError(f"config key '{key}' must be a list of {len(args)} values, got {value!r}")
        return tuple(_coerce(v, a, key) for v, a in zip(value, args))
    if origin is dict:
        _, arg = typing.get_args(kind)
        if not isinstance(value, dict):
            raise UserError(f"config key '{key}' must be a mapping, got {value!r}")
        return {str(k): _coerce(v, arg, f"{key}.{k}") for k, v in value.items()}
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
    for f in dataclasses.fields(cls):  # a mapping given in part keeps its other defaults
        if f.name in values and isinstance(values[f.name], dict) and f.default_factory is not dataclasses.MISSING:
            values[f.name] = {**f.default_factory(), **values[f.name]}
    return cls(**values)


def apply_override(data: dict, assignment: str) -> None:
    """`train.steps=30` -> data['train']['steps'] = 30 (the value parsed as YAML)."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key:
        raise UserError(f"--set takes key=value, got {assignment!r}")
    assign(data, key.strip(), parse_yaml(raw, f"--set {key}"))


def assign(data: dict, key: str, value) -> None:
    """data[a][b] = value for the dotted key `a.b`, the sections made where missing."""
    *parents, leaf = key.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise UserError(f"config key '{key}': '{part}' is not a section")
    node[leaf] = value


def merge_values(data: dict, values: dict) -> None:
    """values (nested dicts, or dotted keys: {'train': {'steps': 4}} or {'train.steps': 4}) over data, section
    by section: what values leave out keeps data's value."""
    for key, value in values.items():
        head, _, rest = str(key).partition(".")
        if rest:
            key, value = head, {rest: value}
        if isinstance(value, dict):
            if not isinstance(data.get(key), dict):
                data[key] = {}
            merge_values(data[key], value)
        else:
            data[key] = copy.deepcopy(value)


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader, but a key given twice in one mapping is an error: YAML keeps the later value, so a
    second `train:` block would drop the first one's keys without a word."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            first = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # `<<:` merges are YAML's own way to repeat keys
                    continue
                key = self.construct_object(key_node, deep=True)
                if isinstance(key, (str, int, float, bool)) and key in first:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key!r} is given twice (first at line {first[key] + 1}); the second would "
                        f"replace the first: merge them into one", key_node.start_mark)
                first.setdefault(key, key_node.start_mark.line)
        return super().construct_mapping(node, deep)


def parse_yaml(text: str, where: str):
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as err:
        mark, problem = err.problem_mark or err.context_mark, err.problem or err.context or str(err)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        if "\\t" in problem:  # PyYAML's words for a tab say nothing of the fix
            problem += " (YAML indents with spaces: replace the tab)"
        raise UserError(f"{where} is not valid YAML{at}: {problem}") from None
    except (yaml.YAMLError, ValueError) as err:  # ValueError: an integer beyond Python's 4300 digits
        raise UserError(f"{where} is not valid YAML: {str(err).splitlines()[0]}") from None


def config_file(source) -> Path:
    """The YAML file a config source names: a shipped config's name (no .yaml, no folder, not a file here:
    `toaster` is patchgen/configs/toaster.yaml), else the path as given."""
    text = str(source)
    if text.endswith((".yaml", ".yml")) or "/" in text or os.sep in text or Path(text).expanduser().is_file():
        return require_file(Path(text).expanduser(), "config")
    names = shipped_configs()
    if text in NOT_BY_NAME:
        raise UserError(f"the {text} config runs with `patchgen {text}`, which supplies its images; the configs "
                        f"`patchgen train` runs by name are {', '.join(names)}")
    if text not in names:
        raise UserError(f"no config named {text!r}: the shipped ones are {', '.join(names)} (`patchgen configs` "
                        f"says what each does); or give the path of a YAML file")
    return SHIPPED / f"{text}.yaml"


def shipped_configs() -> dict[str, str]:
    """{name: its one-line description (the file's first comment line)} for every config run by name."""
    described = {}
    for path in sorted(SHIPPED.glob("*.yaml")):
        if path.stem not in NOT_BY_NAME:
            first = path.read_text().splitlines()[0]
            described[path.stem] = first.lstrip("#").strip()
    return described


def load_config(source=None, overrides=(), values=None, victim=None, recorded: bool = False) -> RunConfig:
    """source: a shipped config's name, a YAML file's path, a mapping (from Python) or None (every key from
    values and overrides). values: a mapping merged over it (nested, or dotted keys), then overrides, a list of
    "key=value" (--set); the result is checked as a YAML file is, before torch loads.
    victim: a victim object from the Python API (patchgen.victims.classifier_from_module(...)): it stands for
    the config's victim key, which then names it, and the goal is checked against its family.
    recorded: a run's own RUN/config.yaml, read back as it was written (every key, defaults included): keys the
    run ignores are not refused there, so a run recorded before a check existed stays readable, and the files it
    names (masks, a camouflage's photo) are not read again: the run holds what it made of them."""
    if isinstance(source, dict):
        data = copy.deepcopy(source)
    elif isinstance(source, (str, os.PathLike)) and str(source):
        path = config_file(source)
        data = parse_yaml(path.read_text(), f"config {path}") or {}
        if not isinstance(data, dict):
            raise UserError(f"config {path} must be a mapping of keys to values")
        if path.parent == SHIPPED:
            paths_beside(data, SHIPPED)
    elif source is None or source == "":
        data = {}
    else:
        raise UserError(f"a config is a shipped config's name, a YAML file's path or a dict of keys, got "
                        f"{type(source).__name__}")
    if values:
        if not isinstance(values, dict):
            raise UserError(f"config values must be a dict of keys, got {type(values).__name__}")
        merge_values(data, values)
    for assignment in overrides:
        apply_override(data, assignment)
    if victim is not None:
        data["victim"] = victim.name
    config = from_dict(RunConfig, data)
    validate(config, victim.family if victim is not None else None, None if recorded else data)
    make_paths_absolute(config)
    return config


def paths_beside(data: dict, folder: Path) -> None:
    """A shipped config's own relative paths (the glasses' frame, the camouflage's photo) mean its folder: it is
    run by name from anywhere. Paths set over it (--set, values) still mean the folder the command runs in."""
    config = from_dict(RunConfig, data)
    before = flat_keys(to_dict(config))
    make_paths_absolute(config, folder)
    after = flat_keys(to_dict(config))
    for key in flat_keys(data):
        if key in after and after[key] != before[key]:
            assign(data, key, after[key])


def validate(config: RunConfig, family: str | None = None, given: dict | None = None) -> None:
    """given: the keys as the user wrote them (None: a run's recorded config, every key written out)."""
    if not config.victim:
        raise UserError("config key 'victim' is required (a model path or name, e.g. yolov8n.pt)")
    meant = None if family else classifier_meant(config.victim)
    if meant:
        raise UserError(f"config key 'victim' = {config.victim!r} is no model patchgen knows: did you mean {meant}? "
                        f"(the classifiers are {CLASSIFIER_FORMS}; anything else names a detector)")
    kind = victim_kind(config.victim)
    if hasattr(config.adapter, kind):
        getattr(config.adapter, kind).check(f"adapter.{kind}")
    family = family or victim_family(config)
    if not config.data.train:
        raise UserError(f"config key 'data.train' is required: {DATA_LAYOUTS[family]}; add it with "
                        f"--set data.train=FOLDER (or `data: {{train: FOLDER}}` in a config file)")
    check_choices(config, family, given is None or "goal" in given)
    if config.loss.vanish_scope not in VANISH_SCOPES:
        raise UserError(f"config key 'loss.vanish_scope' must be one of {', '.join(VANISH_SCOPES)}, "
                        f"got {config.loss.vanish_scope!r}")
    check_ranges(config)
    check_access(config, given)
    if config.imgsz % 32:
        raise UserError(f"config key 'imgsz' = {config.imgsz} must be a multiple of 32 (0: the victim's own size)")
    if given is not None:  # a recorded config was checked when its run started; its files are not read again
        check_unused(config, flat_keys(given), family)
        check_files(config)


def check_access(config: RunConfig, given: dict | None) -> None:
    """The optimiser against how the victim is reached: a gradient optimiser needs a differentiable victim, and
    query settings need a run by queries."""
    _one_of(config.victim_access, ACCESS, "victim_access")
    optimizer = registry.entry("optimizer", config.optimizer.kind, "optimizer.kind")
    for name, plugin in registry.PLUGINS["optimizer"].items():
        settings = getattr(config.optimizer, name)
        if hasattr(settings, "check"):
            settings.check(f"optimizer.{name}")
    kind = victim_kind(config.victim)
    differentiable = registry.PLUGINS["victim"][kind].differentiable
    if config.victim_access == "white_box" and not differentiable:
        raise UserError(f"config key 'victim_access' = 'white_box', but {config.victim} answers queries only "
                        f"(victim kind {kind}): use query (or auto)")
    by_query = query_access(config)
    if optimizer.gradients and by_query:
        fitting = [n for n, p in registry.PLUGINS["optimizer"].items() if not p.gradients]
        reason = "victim_access is query" if differentiable else f"{config.victim} answers queries only"
        raise UserError(f"config key 'optimizer.kind' = {config.optimizer.kind!r} needs gradients, but {reason}: "
                        f"use {_either(fitting)}")
    if not by_query and given is not None:
        for key, value in flat_keys(given).items():
            if key.startswith("query.") and value != flat_keys(to_dict(QueryConfig())).get(key[len("query."):]):
                raise UserError(f"config key '{key}' is never read by this run: it reaches {config.victim} "
                                f"white-box (victim_access {config.victim_access}, optimizer.kind "
                                f"{config.optimizer.kind}); remove it, or set victim_access: query")


def victim_family(config: RunConfig) -> str:
    """A query-only victim's family is in its settings (adapter.KIND.family); the built-in forms name theirs."""
    kind = victim_kind(config.victim)
    return getattr(config.adapter, kind).family if hasattr(config.adapter, kind) else family_of(config.victim)


def query_access(config: RunConfig) -> bool:
    """Whether the run reaches its victim by queries only: the config's choice, or (auto) a victim that answers
    nothing else, or an optimiser that needs no gradients."""
    if config.victim_access != "auto":
        return config.victim_access == "query"
    differentiable = registry.PLUGINS["victim"][victim_kind(config.victim)].differentiable
    return not differentiable or not registry.PLUGINS["optimizer"][config.optimizer.kind].gradients


def check_batch_split(config: RunConfig, ranks: int) -> None:
    """train.batch is the global batch: each of the `ranks` processes (torchrun's WORLD_SIZE) draws an equal share."""
    if config.train.batch % ranks:
        raise UserError(f"config key 'train.batch' = {config.train.batch} must split evenly over the {ranks} "
                        f"processes torchrun started: use a multiple of {ranks}")


def check_choices(config: RunConfig, family: str, goal_given: bool = True) -> None:
    """Every named choice against what exists: plug-ins by registry name, the goal against the victim's family,
    modes and shapes; each a UserError naming the key. goal_given: the user wrote the goal (else it is the
    default, and the message must not speak as if they had)."""
    goal = registry.entry("goal", config.goal, "goal")
    if goal.family != family:
        fitting = [n for n, p in registry.PLUGINS["goal"].items() if p.family == family]
        if not goal_given:
            raise UserError(f"config key 'goal' is not set, and its default {config.goal!r} is a {goal.family} goal, "
                            f"but {config.victim} is a {family}: choose one of its goals, e.g. --set goal={fitting[0]} "
                            f"(or `goal: {fitting[0]}` in the config; its goals: {', '.join(fitting)})")
        raise UserError(f"config key 'goal' = {config.goal!r} is a {goal.family} goal, but {config.victim} is a "
                        f"{family}: use one of its goals ({', '.join(fitting)}), or a {goal.family} victim for "
                        f"{config.goal!r}")
    if goal.needs_class and not config.goal_class:
        raise UserError(f"config key 'goal_class' is required by goal {config.goal!r} (the class it aims for)")
    artifact = registry.entry("artifact", config.artifact.kind, "artifact.kind")
    placements = registry.PLUGINS["placement"]
    if not registry.PLUGINS["family"][family].on_boxes and all(placements[p].on_boxes for p in artifact.placements
                                                                 if p):
        fitting = [n for n, p in registry.PLUGINS["artifact"].items()
                   if any(not placements[q or goal.placement].on_boxes for q in p.placements)]
        raise UserError(f"config key 'artifact.kind' = {config.artifact.kind!r} goes on target boxes "
                        f"({', '.join(p for p in artifact.placements if p)}), and a {family}'s images have none: "
                        f"use {_either(fitting)} for a {family}")
    for key in artifact.needs:
        if not _value_at(config, key):
            raise UserError(f"config key '{key}' is required by artifact.kind {config.artifact.kind!r}")
    if config.placement.kind:
        registry.entry("placement", config.placement.kind, "placement.kind")
    placement = placement_kind(config)
    if placement not in artifact.placements:
        allowed = ", ".join(p for p in artifact.placements if p)
        raise UserError(f"config key 'placement.kind' = {placement!r} cannot hold artifact.kind "
                        f"{config.artifact.kind!r}: use one of {allowed}")
    if registry.PLUGINS["placement"][placement].on_boxes and not registry.PLUGINS["family"][family].on_boxes:
        raise UserError(f"config key 'placement.kind' = {placement!r} puts the artifact on target boxes, but a "
                        f"{family}'s images have none: use anywhere")
    for term in config.loss.weights:
        if term != ADVERSARIAL:
            registry.entry("loss term", term, f"loss.weights.{term}")
    _one_of(config.data.labels, LABEL_MODES, "data.labels")
    _one_of(config.artifact.init, INITS, "artifact.init")
    if config.loss.weights.get("style") and not config.loss.style_image:
        raise UserError("config key 'loss.style_image' is required when loss.weights.style is above 0")
    if config.artifact.size % config.artifact.cell:
        raise UserError(f"config key 'artifact.size' = {config.artifact.size} must be a multiple of artifact.cell "
                        f"= {config.artifact.cell}")
    x1, y1, x2, y2 = config.placement.region
    if not (x1 < x2 and y1 < y2):
        raise UserError(f"config key 'placement.region' = {list(config.placement.region)} must be x1 y1 x2 y2 "
                        f"with x1 < x2 and y1 < y2 (fractions of the box)")


def check_files(config: RunConfig) -> None:
    """The small files a run reads besides its data and model (masks, photos), read now: a bad one is found
    before any model loads."""
    for key, shape in [("artifact.shape", config.artifact.shape),
                       *((f"artifact.pieces[{i}].shape", p.shape) for i, p in enumerate(config.artifact.pieces))]:
        if shape not in SHAPES:
            check_mask_file(shape, config.artifact.size, key)
    if config.artifact.reference:
        check_image_file(config.artifact.reference, "artifact.reference")
        if config.artifact.kind == "camouflage":
            check_reference(config.artifact.reference, config.artifact.colours)
    if config.loss.weights.get("style"):
        check_image_file(config.loss.style_image, "loss.style_image")


KIND_WORDS = {"goal": "goal", "family": "victim family", "artifact": "artifact.kind", "placement": "placement.kind",
              "loss term": "loss term", "optimizer": "optimizer.kind", "victim": "victim kind"}


def check_unused(config: RunConfig, given: dict, family: str) -> None:
    """A key the user set, to other than its default, that only plug-ins this run does not use read (registry:
    `uses`): refused, so that no record says a value was used that the run ignored (goal_class with an untargeted
    goal, artifact.reference on a patch)."""
    active = {"goal": {config.goal}, "family": {family}, "artifact": {config.artifact.kind},
              "optimizer": {config.optimizer.kind}, "victim": {victim_kind(config.victim)},
              "placement": {placement_kind(config)},
              "loss term": {t for t, w in config.loss.weights.items() if t != ADVERSARIAL and w}}
    values, defaults = flat_keys(to_dict(config)), flat_keys(to_dict(RunConfig()))
    for key in given:
        if key not in values or values[key] == defaults.get(key):
            continue
        readers = [(kind, name) for kind, plugins in registry.PLUGINS.items() for name, plugin in plugins.items()
                   if any(key == used or key.startswith(used + ".") for used in plugin.uses)]
        if not readers or any(name in active[kind] for kind, name in readers):
            continue
        kinds = sorted({kind for kind, _ in readers}, key=list(KIND_WORDS).index)
        read_by = "; ".join(f"{KIND_WORDS[k]} {_either([n for kind, n in readers if kind == k])}" for k in kinds)
        this_run = ", ".join(f"{KIND_WORDS[k]} {', '.join(sorted(active[k])) or 'none'}" for k in kinds)
        raise UserError(f"config key '{key}' = {_shown(values[key])} is never read by this run: only {read_by} "
                        f"read it, and this run has {this_run}; remove it (or choose what reads it)")


def _either(names: list) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _value_at(config, key: str):
    value = config
    for part in key.split("."):
        value = getattr(value, part)
    return value


def _one_of(value, allowed, key: str) -> None:
    if value not in allowed:
        raise UserError(f"config key '{key}' must be one of {', '.join(allowed)}, got {value!r}")


def check_mask_file(shape: str, size: int, key: str = "artifact.shape") -> None:
    """A shape that is not square or circle is a mask image: it must exist, decode and hold a shape in its alpha
    that still shows at `size` px, as the artifact uses it (read now: small, and a bad one is found before any
    model loads)."""
    from patchgen.mask_file import mask_alpha

    path = Path(shape).expanduser()
    if not path.is_file():
        raise UserError(f"config key '{key}' must be one of {', '.join(SHAPES)} or the path of a PNG "
                        f"whose alpha is the shape; no such file: {shape}")
    try:
        mask_alpha(path, size)
    except UserError as err:
        raise UserError(f"config key '{key}': {err}") from None


def check_reference(path: str, colours: int) -> None:
    """A camouflage's reference photo must hold `colours` distinct colours (else a palette of duplicates would be
    trained and printed); k-means in torch, but no model."""
    from printing.palette_from_photo import reference_palette

    try:
        reference_palette(path, colours)
    except UserError as err:
        raise UserError(f"config key 'artifact.reference': {err}") from None


def check_image_file(path: str, key: str) -> None:
    """An image the run reads (a reference photo): it must exist and decode, checked before any model loads."""
    from patchgen.image_io import read_image

    try:
        read_image(path)
    except UserError as err:
        raise UserError(f"config key '{key}': {err}") from None


def placement_kind(config: RunConfig) -> str:
    """The placement in force: the config's, else the artifact's own (stickers in a box, a texture on the torso),
    else the goal's own."""
    own = registry.PLUGINS["artifact"][config.artifact.kind].placements[0]
    return config.placement.kind or own or registry.PLUGINS["goal"][config.goal].placement


def check_ranges(section, prefix: str = "") -> None:
    """Every numeric key against the range declared beside it: finite, inside it, and pairs low <= high."""
    for f in dataclasses.fields(section):
        key, value = prefix + f.name, getattr(section, f.name)
        if dataclasses.is_dataclass(value):
            check_ranges(value, key + ".")
            continue
        if isinstance(value, list) and value and dataclasses.is_dataclass(value[0]):
            for i, item in enumerate(value):
                check_ranges(item, f"{key}[{i}].")
            continue
        allowed = f.metadata.get("range")
        if allowed is None:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                raise TypeError(f"numeric config key {key} declares no range")  # a bug in this file
            continue
        if isinstance(value, dict):
            for name, item in value.items():
                if item not in allowed:
                    raise UserError(f"config key '{key}.{name}' = {_shown(item)} is out of range: it must be a "
                                    f"finite number {allowed}")
        elif isinstance(value, tuple) and len(value) == 2 and f.name not in UNORDERED_PAIRS:  # a (low, high) range
            if not (all(v in allowed for v in value) and value[0] <= value[1]):
                raise UserError(f"config key '{key}' = {list(value)} is out of range: both ends must be finite "
                                f"and {allowed}, low <= high")
        elif isinstance(value, tuple):
            if not all(v in allowed for v in value):
                raise UserError(f"config key '{key}' = {list(value)} is out of range: every value must be finite "
                                f"and {allowed}")
        elif value not in allowed:
            kind = "a finite number" if isinstance(value, float) else "an integer"
            raise UserError(f"config key '{key}' = {_shown(value)} is out of range: it must be {kind} {allowed}")


def _shown(value) -> str:
    """A value as a message shows it; an integer of thousands of digits by its size."""
    if isinstance(value, int) and value.bit_length() > 128:
        return f"a {value.bit_length()}-bit integer"
    return repr(value)


def _absolute(path: str, folder=None) -> str:
    return os.path.abspath(os.path.join(folder or "", os.path.expanduser(path))) if path else path


def make_paths_absolute(config: RunConfig, folder=None) -> None:
    """Relative paths mean the folder the command runs in (or `folder`: a shipped config's own); the saved
    config must not depend on it (a later `patchgen eval RUN` from elsewhere would read another folder, or none)."""
    config.victim = absolute_victim(config.victim)
    config.colour_model = _absolute(config.colour_model, folder)
    config.data.train = _absolute(config.data.train, folder)
    config.data.val = _absolute(config.data.val, folder)
    config.loss.palette = _absolute(config.loss.palette, folder)
    config.artifact.reference = _absolute(config.artifact.reference, folder)
    config.loss.style_image = _absolute(config.loss.style_image, folder)
    if config.artifact.shape not in SHAPES:
        config.artifact.shape = _absolute(config.artifact.shape, folder)
    for piece in config.artifact.pieces:
        if piece.shape not in SHAPES:
            piece.shape = _absolute(piece.shape, folder)
    _absolute_paths(config, folder)


def _absolute_paths(settings, folder=None) -> None:
    """Every field made with ranges.path, in these settings and every section within them (plug-ins' own
    settings: adapter.http.names_file, ...), made absolute."""
    for item in dataclasses.fields(settings):
        value = getattr(settings, item.name)
        if dataclasses.is_dataclass(value):
            _absolute_paths(value, folder)
        elif item.metadata.get("path"):
            setattr(settings, item.name, _absolute(value, folder))


def to_dict(config: RunConfig) -> dict:
    def plain(value):
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(dataclasses.asdict(config))


def flat_keys(data: dict, prefix: str = "") -> dict:
    """{'train': {'lr': 0.03}} -> {'train.lr': 0.03}: dotted keys, as --set and messages name them."""
    flat = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(flat_keys(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat


def dump_yaml(config: RunConfig) -> str:
    """The config as a run records it: every key, except the settings of optimisers and victim kinds the run does
    not use (read back, they are their defaults; a run's record then holds only plug-ins it ran)."""
    data = to_dict(config)
    data["optimizer"] = {"kind": config.optimizer.kind, config.optimizer.kind: data["optimizer"][config.optimizer.kind]}
    kind = victim_kind(config.victim)
    data["adapter"] = {kind: data["adapter"][kind]} if kind in data["adapter"] else {}
    return yaml.safe_dump(data, sort_keys=False)
