"""Models you can only query (issue 26): few-pixel attacks against torchattacks, fooling images, a universal
patch by queries, a detector reached by queries. Each part is its own module (benchmarks/blackbox_PART.py) with
`run(out) -> dict` of its result keys; this script runs the parts asked for and merges their keys into
benchmarks/results/blackbox.json, so parts can run (and resume) separately.

    python benchmarks/blackbox.py [--part few_pixel|fooling|query_patch|ssd ...] [--out runs/blackbox]
"""

import argparse
import importlib
import json
import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])  # the repo root: benchmarks/printing.py must not hide printing/
from benchmarks.common import RESULTS, write_result  # noqa: E402

PARTS = ("few_pixel", "fooling", "query_patch", "ssd")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", action="append", choices=PARTS, help="a part to run (repeat; default: all)")
    parser.add_argument("--out", default="runs/blackbox", help="run folders and per-image results (resumable)")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    parts = args.part or PARTS
    missing = [p for p in parts if not (Path(__file__).parent / f"blackbox_{p}.py").exists()]
    if missing:
        parser.error(f"no module for part {', '.join(missing)} (benchmarks/blackbox_PART.py): choose another --part")
    for part in parts:
        keys = importlib.import_module(f"benchmarks.blackbox_{part}").run(Path(args.out))
        path = RESULTS / "blackbox.json"
        merged = json.loads(path.read_text()) if path.exists() else {}  # re-read: another part may have written
        merged.update(keys)
        write_result("blackbox", merged)


if __name__ == "__main__":
    main()
