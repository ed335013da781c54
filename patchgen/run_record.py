"""A run folder's record of how it was made: RUN/config.yaml is the config it started with, never rewritten;
RUN/run.json says which command started it and lists every resume, with the step it continued from and the
config keys it changed. The config in force is config.yaml with those changes applied.

A resume may change only what cannot change the steps already done: train.steps upward (the cosine schedule of
the steps still to come stretches, recorded here), and how often the run logs and checkpoints. Everything else
(data, victim, seed, lr, device: its generator's stream differs per device...) would make the finished run
neither the old one nor the new one, so it is refused, naming the keys."""

import json
from datetime import datetime, timezone
from pathlib import Path

from patchgen.atomic import atomic_write_json, atomic_write_text
from patchgen.config import RunConfig, dump_yaml, flat_keys, load_config, to_dict
from patchgen.errors import UserError

RECORD = "run.json"
CONFIG = "config.yaml"
FREE_ON_RESUME = ("train.log_every", "train.checkpoint_every")
UPWARD_ON_RESUME = ("train.steps",)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def start_record(run_dir: Path, config: RunConfig, origin: str) -> None:
    atomic_write_text(run_dir / CONFIG, dump_yaml(config))
    atomic_write_json(run_dir / RECORD, {"origin": origin, "started": _now(), "resumes": []})


def read_record(run_dir: Path) -> dict | None:
    """run.json, or None for a run made before the record existed."""
    path = Path(run_dir) / RECORD
    return json.loads(path.read_text()) if path.is_file() else None


def config_in_force(run_dir: Path) -> dict:
    """The run's config as flat dotted keys: config.yaml plus every recorded change."""
    config = flat_keys(to_dict(load_config(run_dir / CONFIG)))
    for resume in (read_record(run_dir) or {}).get("resumes", []):
        config.update({key: new for key, (_, new) in resume["changes"].items()})
    return config


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


def record_resume(run_dir: Path, step: int, changes: dict) -> None:
    record = read_record(run_dir) or {"origin": None, "started": None, "resumes": []}
    record["resumes"].append({"at": _now(), "from_step": step, "changes": changes})
    atomic_write_json(run_dir / RECORD, record)
