"""What a long command says first (train, eval, demo, score, live): the versions that decide its numbers, the
device it runs on and what it works on, so that a log (or a bug report) says how a result was made. The versions
here are also the ones RUN/run.json records."""

import os
import platform
import sys

PACKAGES = ("patchgen", "torch", "ultralytics", "kornia")


def versions() -> dict:
    """{"python": ..., "patchgen": ..., "torch": ..., ...}; None for a package that is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    def installed(package: str) -> str | None:
        try:
            return version(package)
        except PackageNotFoundError:
            return None

    return {"python": platform.python_version(), **{name: installed(name) for name in PACKAGES}}


def describe_device(device) -> str:
    """'cuda:0 (NVIDIA H100 80GB HBM3)' or 'cpu (2 threads)': the device and what it is."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        index = torch.cuda.current_device() if device.index is None else device.index
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    if device.type == "cpu":
        threads = torch.get_num_threads()
        return f"cpu ({threads} thread{'s' if threads > 1 else ''})"
    return str(device)


def describe_goal(config) -> str:
    """'vanish (person)', 'targeted: toaster': the goal and the classes it is about."""
    from patchgen.registry import PLUGINS

    detector = PLUGINS["goal"][config.goal].family == "detector"
    classes = f" ({', '.join(config.target_classes)})" if detector else ""
    return config.goal + (f": {config.goal_class}" if config.goal_class else "") + classes


def print_header(command: str, device, **fields) -> None:
    """To stderr, from torchrun's rank 0 only (every rank would print the same): the versions on one line, then
    the device and each field (`input_size=640` reads "input size  640"; None is left out). Callers leave it out
    under --quiet."""
    if int(os.environ.get("RANK", "0")):
        return
    processes = int(os.environ.get("WORLD_SIZE", "1"))
    shown = {"device": describe_device(device) + (f", {processes} processes" if processes > 1 else ""),
             **{name.replace("_", " "): value for name, value in fields.items() if value is not None}}
    width = max(len(name) for name in shown)
    found = versions()
    line = " · ".join(f"{name} {number or 'not installed'}" for name, number in found.items() if name != "patchgen")
    lines = [f"patchgen {found['patchgen']} {command} · {line}",
             *(f"  {name:<{width}}  {value}" for name, value in shown.items())]
    print("\n".join(lines), file=sys.stderr, flush=True)
