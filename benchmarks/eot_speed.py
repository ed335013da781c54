"""Throughput of the full EOT training step as a ratio to the bare victim's forward+backward on the same batch,
measured side by side in one run (alternating, so machine load hits both alike).

    python benchmarks/eot_speed.py [--imgsz 320] [--batch 8] [--device auto] [--repeats 10]
"""

import argparse
import sys
import time

import torch
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])  # the repo root: benchmarks/printing.py must not shadow printing/
from benchmarks.common import INRIA, YOLOV5N, device_label, write_result  # noqa: E402

from patchgen.config import load_config  # noqa: E402
from patchgen.train import Setup  # noqa: E402


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--model", default=str(YOLOV5N))
    args = parser.parse_args()
    config = load_config(None, [f"victim={args.model}", f"data.train={INRIA / 'dev'}", f"imgsz={args.imgsz}",
                                f"train.batch={args.batch}", f"train.device={args.device}", "artifact.size=100"])
    setup = Setup(config, quiet=True)
    device = setup.device
    optimizer = torch.optim.Adam(setup.artifact.parameters(), lr=0.01)
    index, _ = setup.draw()
    fixed = setup.scenes.batch(index)
    fixed_images = fixed.images.clone()

    def bare():
        images = fixed_images.clone().requires_grad_(True)
        with setup.autocast:
            loss = setup.goal.loss(setup.model(images), fixed, None).float().mean()  # the run's own goal
        loss.backward()

    def step():
        index, params = setup.draw()
        total = setup.step_loss(index, params)[0]
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()

    for fn in (bare, step, bare, step):  # warm-up (allocator, kernels, grids)
        fn()
    times = {"bare": 0.0, "step": 0.0}
    for _ in range(args.repeats):
        for name, fn in (("bare", bare), ("step", step)):
            sync(device)
            start = time.perf_counter()
            fn()
            sync(device)
            times[name] += time.perf_counter() - start
    images = args.batch * args.repeats
    result = {
        "bare_img_s": round(images / times["bare"], 2), "step_img_s": round(images / times["step"], 2),
        "ratio": round(times["bare"] / times["step"], 3), "batch": args.batch, "imgsz": args.imgsz,
        "targets_per_image": int(setup.scenes.mask.shape[1]), "model": "yolov5n (anchor, COCO)",
        "device": device_label(device), "repeats": args.repeats,
    }  # fmt: skip
    print(result)
    write_result(f"eot_speed_{'cuda' if device.type == 'cuda' else 'cpu'}", result)


if __name__ == "__main__":
    main()
