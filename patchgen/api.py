"""The Python API: `train`, `evaluate` and `load`, over the same functions the commands run.

    run = patchgen.train("toaster", out="runs/toaster", data={"train": "photos/"}, train={"steps": 200})
    table = patchgen.evaluate(run, "holdout/")          # or data=(images, labels): tensors in memory
    patched = patchgen.load("runs/toaster").apply(images, generator=torch.Generator().manual_seed(0))

Config keys are keyword arguments, sections as dicts (`train={"steps": 20}`; dotted keys too, through
`**{"train.steps": 20}`). Mistakes raise patchgen.errors.UserError, said in Python's terms: the API checks its
own arguments before the engine sees them, and an engine message that names `--set KEY=VALUE` names the keyword
argument instead."""

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path

from patchgen import run_dir as run_files
from patchgen.artifacts.loaded import LoadedArtifact
from patchgen.config import RunConfig, load_config, to_dict
from patchgen.errors import UserError

IN_MEMORY = "in-memory images"  # data.train of an evaluation config whose images are tensors: it names no folder


@dataclass
class Run:
    """A trained run folder, as patchgen.train returns it."""

    path: Path
    config: RunConfig
    artifact: LoadedArtifact
    metrics: list[dict]  # RUN/metrics.jsonl: one dict per logged step (step, loss, adversarial, ...)
    patch: Path  # RUN/patch.png: the artifact's picture (RGBA, alpha the shape)
    results: dict | None = None  # the evaluation after training: condition (clean, noise, adv) -> measure -> value
    report: Path | None = None  # that evaluation's report.html


def in_python_terms(function):
    """A UserError from the engine that says `--set a.b=V` says `a={"b": V}` instead (a Python caller passes config
    keys as keyword arguments), and the flags the API has as arguments (--device cpu, --out, --resume) by them."""

    @functools.wraps(function)
    def said_in_python(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except UserError as err:
            text = re.sub(r"--set ([\w.]+)=(\S+?)(?=[\s,;)]|$)", lambda m: keyword(m[1], m[2]), str(err))
            text = re.sub(r"--(device|out|data|victim|batch|labels) ", r"\1=", text).replace("--resume", "resume=True")
            if text == str(err):
                raise
            raise UserError(text) from None

    return said_in_python


def keyword(key: str, value: str) -> str:
    """`train.device`, `cpu` -> `train={"device": "cpu"}`: a config key as the keyword argument that sets it."""
    shown = value if re.fullmatch(r"[A-Z_]+|-?[\d.]+|true|false|\[.*\]", value) else f'"{value}"'
    head, *rest = key.split(".")
    for part in reversed(rest):
        shown = f'{{"{part}": {shown}}}'
    return f"{head}={shown}"


@in_python_terms
def train(config, *, out, resume: bool = False, evaluate: bool = True, progress: bool = True, **overrides) -> Run:
    """Train an artifact and return its Run. config: a shipped config's name ("toaster"; `patchgen configs` lists
    them), a YAML file's path or a dict; overrides: config keys (victim=..., data={"train": FOLDER},
    train={"steps": 20}); victim may also be a victim object (patchgen.victims.classifier_from_module(...)).
    out: the run folder. resume: continue the run in out from its last checkpoint. evaluate: evaluate the artifact
    on data.val (else data.train) afterwards, as `patchgen train` does."""
    out = _folder_argument(out, "out")
    victim = overrides.pop("victim", None)
    if victim is not None and not isinstance(victim, (str, os.PathLike)):
        victim_object, values = victim, overrides
    else:
        victim_object, values = None, {**overrides, **({"victim": victim} if victim is not None else {})}
    loaded = load_config(config, values=values, victim=victim_object)
    held = run_files.holds_run(out)
    if held and not resume:
        raise UserError(f"{out} already holds a run: pass resume=True to continue it, or another out=...")
    if resume and not held:
        raise UserError(f"nothing to resume in {out} (no {run_files.CHECKPOINT}): leave resume out to start a run "
                        f"there")
    written = run_training(loaded, out, resume=resume, evaluate=evaluate and victim_object is None,
                           progress=progress, victim=victim_object)
    results = written.evaluation.table if written is not None else None
    if evaluate and victim_object is not None:  # evaluate_run loads victims by name; an object is evaluated here
        results = _evaluate_in_memory(loaded, load(out).module, victim_object, loaded.data.val or loaded.data.train,
                                      8, progress, loaded.train.device)
    path = out.absolute()  # the Run's paths hold when the caller changes folder
    return Run(path, loaded, load(path), run_files.read_metrics(path), path / run_files.ARTIFACT_PNG, results,
               (written.folder / run_files.REPORT).absolute() if written is not None else None)


@in_python_terms
def load(run_or_png) -> LoadedArtifact:
    """The artifact of a run folder, or of a PNG with its sidecar (patch.png with patch.json beside it, as a run
    writes them and the benchmarks keep them): its module, its config (which says where it goes) and `apply` to
    paste it on images. Any other image loads too (a published patch), but only `evaluate` with victim=... can
    place it."""
    from patchgen.artifacts import artifact_from_image, load_artifact

    if isinstance(run_or_png, LoadedArtifact):
        return run_or_png
    if isinstance(run_or_png, Run):
        return run_or_png.artifact
    path = Path(os.fspath(run_or_png)) if isinstance(run_or_png, (str, os.PathLike)) else None
    if path is None or not path.exists():
        raise UserError(f"pass a run folder, or a patch.png with its patch.json beside it, to load; got "
                        f"{run_or_png if path is not None else type(run_or_png).__name__!r}: no such file or folder")
    if path.is_dir():
        run_files.read_sidecar(path)  # a UserError saying why there is no artifact yet (still training, stopped)
        return LoadedArtifact(load_artifact(path), run_files.run_config(path), path)
    sidecar_path = path.with_name(run_files.SIDECAR)
    if path.name != run_files.ARTIFACT_PNG or not sidecar_path.is_file():
        return LoadedArtifact(artifact_from_image(path), None, path)
    sidecar = run_files.read_sidecar(path.parent)
    kind = sidecar.get("artifact", "patch")
    if kind != "patch" or not isinstance(sidecar.get("config"), dict):
        raise UserError(f"{path} is the picture of a {kind}, not its parameters (or {sidecar_path.name} is no run's "
                        f"sidecar): load the run folder it came from")
    return LoadedArtifact(artifact_from_image(path), load_config(sidecar["config"], recorded=True), path)


@in_python_terms
def evaluate(run_or_artifact, data, victim=None, *, labels=None, out=None, batch: int = 8, device: str = "auto",
             progress: bool = True, **overrides) -> dict:
    """The CLEAN / NOISE / ADV table of `patchgen eval`: {"clean": {...}, "noise": {...}, "adv": {...}}, each
    measure by its key (top1, goal_rate, ... for a classifier; ap50_labels, recall25, ... for a detector).
    run_or_artifact: a Run, a run folder, a LoadedArtifact or a PNG. data: a folder of images (read as `patchgen
    eval --data` reads it; the report goes into out, by default a new RUN/eval, RUN/eval-2, ...), or images in
    memory: a tensor (N,3,H,W) in [0,1], or (images, labels) with a classifier's (N,) class indices or a
    detector's per-image (n,5) class cx cy w h fractions (None: the clean victim's boxes); nothing is written for
    those.
    victim (a name, a path or a victim object) and overrides (config keys: goal=..., placement={...}) change the
    artifact's own config; an image without a sidecar needs victim."""
    artifact = load(run_or_artifact)
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise UserError(f"pass batch= a whole number of images, at least 1; got {batch!r}")
    if data is None:
        raise UserError("pass data=... (a folder of images, or a tensor of images (N,3,H,W) in [0,1])")
    folder = _folder_argument(data, "data") if isinstance(data, (str, os.PathLike)) else None
    victim_object = victim if victim is not None and not isinstance(victim, (str, os.PathLike)) else None
    values = {**overrides, **({"victim": os.fspath(victim)} if victim is not None and not victim_object else {})}
    config = _evaluation_config(artifact, values, victim_object, folder)
    if folder is None or victim_object is not None:
        if labels is not None:
            raise UserError("labels= says how a folder's images are labelled (auto, files or pseudo); with images "
                            "in memory pass data=(images, labels)")
        if out is not None:
            raise UserError("out= is where a folder's evaluation report goes; for images in memory (or a victim "
                            "object) the table is returned and nothing is written: leave out out")
        return _evaluate_in_memory(config, artifact.module, victim_object, folder or data, batch, progress, device)
    from patchgen.run_evaluation import evaluate_run

    run = artifact.source if artifact.source.is_dir() else None
    if run is None and out is None:
        raise UserError(f"pass out=... (the folder the report goes in): {artifact.source} has no run folder to hold "
                        "it")
    changed = config is not artifact.config
    written = evaluate_run(run, data=folder, labels=labels, out=out, batch=batch, progress=progress,
                           artifact=None if run else artifact.source, config=config if changed or not run else None,
                           device=device)
    return written.evaluation.table


def run_training(config: RunConfig, out: Path, resume: bool, evaluate: bool, progress: bool, victim=None):
    """What `patchgen train` and `patchgen.train` do: train, then evaluate, under one lock (no other writer in
    between); under torchrun rank 0 alone locks, writes and evaluates. Returns what the evaluation wrote
    (run_evaluation.Written), or None."""
    from contextlib import nullcontext

    from patchgen.distributed import world
    from patchgen.run_evaluation import evaluate_run
    from patchgen.run_lock import run_lock
    from patchgen.training import train as train_run

    main = world().main
    with run_lock(out) if main else nullcontext():
        train_run(config, out, resume=resume, progress=progress, victim=victim)
        return evaluate_run(out, progress=progress, device=config.train.device) if main and evaluate else None


def _evaluation_config(artifact: LoadedArtifact, values: dict, victim_object, folder) -> RunConfig:
    """The artifact's own config (a run's, a sidecar's) with the caller's victim and keys over it; for an image
    with none, the caller's alone."""
    if artifact.config is not None:
        if not values and victim_object is None:
            return artifact.config
        return load_config(to_dict(artifact.config), values=values, victim=victim_object, recorded=True)
    if "victim" not in values and victim_object is None:
        raise UserError(f"{artifact.source} has no sidecar saying which model it attacks: pass victim=... (a model "
                        f"name or path, or a victim object)")
    data = {"data": {"train": os.fspath(folder) if folder is not None else IN_MEMORY}}
    return load_config(data, values=values, victim=victim_object)


def _evaluate_in_memory(config: RunConfig, module, victim_object, data, batch: int, progress: bool,
                        device: str) -> dict:
    """The table for images that need no report: tensors (prepared as files of the same pixels are), or a folder
    judged by a victim object (which `evaluate_run`, loading victims by name, cannot take)."""
    from patchgen import registry
    from patchgen.device import resolve_device
    from patchgen.in_memory import SCENES
    from patchgen.placements import placement_for
    from patchgen.victims import load_victim

    device = resolve_device(device)
    victim = load_victim(victim_object if victim_object is not None else config.victim, device,
                         config.imgsz or None, config.adapter)
    goal_plugin = registry.entry("goal", config.goal, "goal")
    family = registry.get("family", victim.family)
    if isinstance(data, (str, os.PathLike)):
        scenes, _ = family.load_data(config, data, victim, goal_plugin, training=False, quiet=not progress)
    else:
        images, labels = data if isinstance(data, (tuple, list)) and len(data) == 2 else (data, None)
        scenes = SCENES[victim.family](images, labels, victim, config)
    module = module.to(device)
    return family.evaluate(victim, scenes.to(device), module, config, registry.get("goal", config.goal)(victim, config),
                           placement_for(config, module), batch=batch, progress=progress).table


def _folder_argument(value, name: str) -> Path:
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        raise UserError(f"pass {name}= a folder path, got {value!r}")
    return Path(os.fspath(value)).expanduser()
