"""Shared by the benchmark scripts: where the offline assets are, which machine this is, writing results."""

import platform
from pathlib import Path

import torch

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
