"""Shared by the benchmark scripts: where the offline assets are, which machine this is, writing results."""

import platform
import shutil
from pathlib import Path

import torch

from patchgen import run_dir
from patchgen.atomic import atomic_write_json

REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO.parent / "shared" / "assets"
YOLOV5N = ASSETS / "models" / "yolov5n_coco_state_dict_fp16.pt"
INRIA = ASSETS / "data" / "inria_test_pos"
RESULTS = REPO / "benchmarks" / "results"


def device_label(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device).replace(" ", "-")
    return f"cpu-{platform.machine()}-{torch.get_num_threads()}threads"


def write_result(name: str, data: dict) -> Path:
    path = RESULTS / f"{name}.json"
    atomic_write_json(path, data)
    print(f"wrote {path}")
    return path


def keep_artifact(run: Path, benchmark: str, name: str) -> str:
    """The run's trained artifact (its PNG, a sticker set's piece PNGs, and the sidecar) copied beside the figures
    it gave, into results/<benchmark>/<name>/, so that a figure can be checked again without retraining; that
    folder, as the JSON records it (repo-relative)."""
    folder = RESULTS / benchmark / name
    folder.mkdir(parents=True, exist_ok=True)
    pieces = [piece["file"] for piece in run_dir.read_sidecar(run).get("pieces") or []]
    for file in (run_dir.ARTIFACT_PNG, *pieces, run_dir.SIDECAR):
        shutil.copy2(Path(run) / file, folder / file)
    return str(folder.relative_to(REPO))
