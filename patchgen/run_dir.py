"""A run directory, read and written here only: every file name, the artifact's sidecar and its keys, the
metrics log, and the record of how the run was made.

RUN/config.yaml is the config the run started with, never rewritten; RUN/run.json says which command started it
and lists every resume, with the step it continued from and the config keys it changed. The config in force is
config.yaml with those changes applied.

A resume may change only what cannot change the steps already done: train.steps upward (the cosine schedule of
the steps still to come stretches, recorded here), and how often the run logs and checkpoints. Everything else
(data, victim, seed, lr, device: its generator's stream differs per device...) would make the finished run
neither the old one nor the new one, so it is refused, naming the keys."""

import json
import re
from datetime import datetime, timezone
from pathlib import Path

from patchgen.atomic import atomic_write_json, atomic_write_text
from patchgen.config import RunConfig, dump_yaml, flat_keys, load_config, to_dict
from patchgen.errors import UserError, require_folder

RECORD = "run.json"
CONFIG = "config.yaml"
CHECKPOINT = "checkpoint.safetensors"
METRICS = "metrics.jsonl"
SIDECAR = "patch.json"  # what the artifact is and how it was made (keys: see artifact_sidecar)
ARTIFACT_PNG = "patch.png"  # RGBA: the artifact's colours, its alpha the shape
ARTIFACT_TENSORS = "patch.safetensors"  # the trained parameters themselves
STICKER_PNG = "sticker_{}.png"  # a sticker set's piece K, RGBA (patch.png is then a contact sheet of them)
RENDERS_PNG = "renders.png"  # the artifact under EOT on training scenes, as the victim saw it
LOSS_PLOT = "loss.png"
EVAL = "eval"
EXPORT = "export"
SCORE = "score"  # photos scored by `patchgen score` (capture/)
REPORT = "report.html"  # what eval and score write for a browser, each in its own folder
QUERY_LOG = "queries.log"  # a query run's every answer, append-only (patchgen/queries.py)
FREE_ON_RESUME = ("train.log_every", "train.checkpoint_every")
UPWARD_ON_RESUME = ("train.steps", "query.budget")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def environment(device) -> dict:
    """Where a run (or one of its resumes) ran: the device it resolved to (not "auto") and the versions that
    decide its numbers (python, patchgen, torch, ultralytics, kornia)."""
    from patchgen.header import versions

    return {"device": str(device), "versions": versions()}


def start_record(run_dir: Path, config: RunConfig, origin: str, device) -> None:
    atomic_write_text(run_dir / CONFIG, dump_yaml(config))
    atomic_write_json(run_dir / RECORD, {"origin": origin, "started": _now(), **environment(device), "resumes": []})


def read_record(run_dir: Path) -> dict | None:
    """run.json, or None for a run made before the record existed."""
    path = Path(run_dir) / RECORD
    return json.loads(path.read_text()) if path.is_file() else None


def config_in_force(run_dir: Path) -> dict:
    """The run's config as flat dotted keys: config.yaml plus every recorded change."""
    config = flat_keys(to_dict(load_config(run_dir / CONFIG, recorded=True)))
    for resume in (read_record(run_dir) or {}).get("resumes", []):
        config.update({key: new for key, (_, new) in resume["changes"].items()})
    return config


def query_log(rank: int = 0) -> str:
    """A query run's log; under torchrun each rank keeps its own (queries.R.log), as it queries its own images."""
    return QUERY_LOG if not rank else QUERY_LOG.replace(".log", f".{rank}.log")


def resume_changes(run_dir: Path, config: RunConfig) -> dict:
    """{key: [old, new]} for the keys this resume changes; a UserError naming any that may not change."""
    old, new = config_in_force(run_dir), flat_keys(to_dict(config))
    changed = {key: [old.get(key), new.get(key)] for key in sorted(old.keys() | new.keys())
               if old.get(key) != new.get(key)}
    refused = {key: values for key, values in changed.items() if not (
        key in FREE_ON_RESUME or (key in UPWARD_ON_RESUME and values[1] > values[0]))}
    if refused:
        listed = ", ".join(f"{key} ({a!r} -> {b!r})" for key, (a, b) in refused.items())
        raise UserError(f"--resume refused: this config differs from the one {run_dir} was trained with in "
                        f"{listed}; only {', '.join(UPWARD_ON_RESUME)} (upward), {', '.join(FREE_ON_RESUME)} "
                        f"may change on a resume")
    return changed


def record_resume(run_dir: Path, step: int, changes: dict, device) -> None:
    record = read_record(run_dir) or {"origin": None, "started": None, "resumes": []}
    record["resumes"].append({"at": _now(), "from_step": step, "changes": changes, **environment(device)})
    atomic_write_json(run_dir / RECORD, record)


def unfinished(run_dir) -> str:
    """What to say of a run that has checkpoints but no artifact yet: still training, or stopped before the end."""
    from patchgen.run_lock import holder

    rows = read_metrics(run_dir)
    steps = (load_config(Path(run_dir) / CONFIG, recorded=True).train.steps
             if (Path(run_dir) / CONFIG).is_file() else "?")
    at = f"step {rows[-1]['step'] if rows else '?'} of {steps}"
    pid = holder(run_dir)
    if pid:
        return f"{run_dir} is still training ({at}, pid {pid}): its artifact is written when training ends; wait " \
               f"for it"
    return f"{run_dir} stopped before the end of its training ({at}) and has no artifact yet: finish it with " \
           f"`patchgen train --resume {run_dir}`"


def new_folder(run_dir, name: str) -> Path:
    """RUN/name, else RUN/name-2, RUN/name-3, ...: the first that does not exist yet, so each evaluation (EVAL)
    or scoring (SCORE) keeps its own folder beside the earlier ones instead of replacing them."""
    folder, number = Path(run_dir) / name, 1
    while folder.exists():
        number += 1
        folder = Path(run_dir) / f"{name}-{number}"
    return folder


def result_folders(run_dir) -> list[Path]:
    """RUN/eval, RUN/eval-2, ..., RUN/score, RUN/score-2, ... that hold a report, in that order."""
    found = []
    for path in Path(run_dir).iterdir():
        match = re.fullmatch(rf"({EVAL}|{SCORE})(?:-(\d+))?", path.name)
        if match and (path / REPORT).is_file():
            found.append(((match[1] != EVAL, int(match[2] or 1)), path))
    return [path for _, path in sorted(found)]


def holds_run(run_dir) -> bool:
    return (Path(run_dir) / CHECKPOINT).exists()


def run_config(run_dir) -> RunConfig:
    """The config a run was trained with; a UserError when the folder is not a run."""
    run_dir = require_folder(run_dir, "run directory")
    if not (run_dir / CONFIG).is_file():
        raise UserError(f"not a run directory (no {CONFIG}): {run_dir}")
    return load_config(run_dir / CONFIG, recorded=True)


# the artifact's sidecar


def artifact_sidecar(config: RunConfig, victim, step: int, metrics: dict, data: dict, placement: str,
                     artifact_keys: dict | None = None) -> dict:
    """RUN/patch.json as training writes it: the keys train, eval, export and capture read; artifact_keys are the
    artifact kind's own (its sidecar(): a texture's tile_px, a camouflage's palette, a sticker set's pieces).
    physical_scale: how large the artifact is against its target, as its placement states it (for people to read:
    `patchgen export` works it out from the config again, so that runs recorded before this key print alike)."""
    from patchgen import registry

    return {
        "artifact": config.artifact.kind, "size_px": config.artifact.size, "shape": config.artifact.shape,
        "victim": config.victim, "family": victim.family, "goal": config.goal, "goal_class": config.goal_class,
        "target_classes": config.target_classes if victim.family == "detector" else [],
        "imgsz": victim.imgsz, "step": step, "metrics": metrics,
        "placement": {"kind": placement, "scale": config.placement.scale, "anchor_y": config.placement.anchor_y,
                      "area": config.placement.area},
        "physical_scale": registry.get("placement", placement).physical_scale(config),
        "data": data, "physical_size_mm": None, "config": to_dict(config), **(artifact_keys or {}),
    }  # fmt: skip


def read_sidecar(run_dir, required: bool = True) -> dict:
    """RUN/patch.json; {} when it is absent and not required; a UserError when it is not valid JSON."""
    path = Path(run_dir) / SIDECAR
    if not path.is_file():
        if required and holds_run(run_dir):
            raise UserError(unfinished(run_dir))
        if required:
            raise UserError(f"not a run directory with an artifact (no {SIDECAR}): {run_dir}")
        return {}
    try:
        sidecar = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{path} is not valid JSON: {err}") from None
    if not isinstance(sidecar, dict):
        raise UserError(f"{path} must hold a JSON object")
    return sidecar


def write_sidecar(run_dir, sidecar: dict) -> None:
    atomic_write_json(Path(run_dir) / SIDECAR, sidecar)


def save_artifact(run_dir, artifact, sidecar: dict) -> None:
    """The artifact's files, then its sidecar (last: a sidecar always describes files that are whole)."""
    run_dir = Path(run_dir)
    artifact.save_files(run_dir / ARTIFACT_TENSORS, run_dir / ARTIFACT_PNG)
    write_sidecar(run_dir, sidecar)


# the metrics log


def append_metrics(run_dir, row: dict) -> None:
    with open(Path(run_dir) / METRICS, "a") as handle:
        handle.write(json.dumps(row) + "\n")


def read_metrics(run_dir) -> list[dict]:
    path = Path(run_dir) / METRICS
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def keep_metrics_until(run_dir, step: int) -> None:
    """A killed run may have logged past its last checkpoint: drop those rows so the log reads as one run."""
    path = Path(run_dir) / METRICS
    if not path.exists():
        return
    rows = [line for line in path.read_text().splitlines() if line.strip()]
    kept = [line for line in rows if json.loads(line)["step"] <= step]
    atomic_write_text(path, "".join(line + "\n" for line in kept))
