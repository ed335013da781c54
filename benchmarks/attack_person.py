"""Attack strength: a patch trained on INRIA dev against YOLOv5n (COCO, anchor-based), evaluated on the 78
holdout images it never saw: CLEAN / NOISE / ADV AP@0.5 for 'person', plus the published Thys et al. (2019)
OBJ patch placed the same way. Resumes an interrupted training run; evaluates an already trained one.

Two rows, told apart by the config's data.labels: trained on the label files (the JSON's top level) or on the
clean detector's pseudo-labels, small people included (under "pseudo_labels"); each run writes its own row and
keeps the other.

    python benchmarks/attack_person.py [--config benchmarks/configs/attack_person_cpu.yaml] [--out runs/attack_person]
    python benchmarks/attack_person.py --config benchmarks/configs/attack_person_cpu_pseudo.yaml \
        --out runs/attack_person_pseudo
    python benchmarks/attack_person.py --config benchmarks/configs/attack_person_gpu.yaml --result attack_person_gpu
"""

import argparse
import json
import sys
from pathlib import Path

import torch
from filelock import FileLock

sys.path[0] = str(Path(__file__).resolve().parents[1])  # the repo root: benchmarks/printing.py must not hide printing/
from benchmarks.common import (  # noqa: E402
    ASSETS, INRIA, RESULTS, YOLOV5N, device_label, keep_artifact, write_result)

from patchgen import registry, run_dir as run_files  # noqa: E402
from patchgen.artifacts import load_artifact  # noqa: E402
from patchgen.config import load_config  # noqa: E402
from patchgen.data import load_scenes  # noqa: E402
from patchgen.detector_evaluation import evaluate  # noqa: E402
from patchgen.run_evaluation import markdown_table, write_report  # noqa: E402
from patchgen.placements import placement_for  # noqa: E402
from patchgen.device import resolve_device  # noqa: E402
from patchgen.training import train  # noqa: E402
from patchgen.victims import load_victim  # noqa: E402

THYS_OBJ = ASSETS / "peer_patches" / "thys2019_object_score.png"
PSEUDO_ROW = "pseudo_labels"


def training_seconds(run_dir: Path) -> float:
    """Wall-clock time to the final patch from the run's metrics: each resumed segment counts its own seconds."""
    total, last = 0.0, 0.0
    for row in run_files.read_metrics(run_dir):
        if row["seconds"] < last:  # a resume started the clock again
            total += last
        last = row["seconds"]
    return round(total + last, 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(Path(__file__).parent / "configs" / "attack_person_cpu.yaml"))
    parser.add_argument("--out", default="runs/attack_person")
    parser.add_argument("--result", default="attack_person", help="results/NAME.json (attack_person_gpu on a GPU)")
    parser.add_argument("--set", action="append", default=[])
    parser.add_argument("--threads", type=int, help="torch CPU threads (1 is faster on a machine shared with "
                        "other jobs: OpenMP threads spin while they wait)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    config = load_config(args.config, [f"victim={YOLOV5N}", f"data.train={INRIA / 'dev'}",
                                       f"data.val={INRIA / 'holdout'}", *args.set])
    out = Path(args.out)
    if not (out / "patch.safetensors").exists():
        train(config, out, resume=(out / "checkpoint.safetensors").exists())

    device = resolve_device(config.train.device, "train.device")
    victim = load_victim(config.victim, device, config.imgsz)
    class_ids = [victim.class_id("person")]
    holdout, report = load_scenes(INRIA / "holdout", config.imgsz, class_ids, labels="files")
    holdout = holdout.to(device)
    goal = registry.get("goal", config.goal)(victim, config)
    artifact = load_artifact(out).to(device)
    ours = evaluate(victim, holdout, artifact, class_ids, placement_for(config, artifact), goal)
    # "clean" again so that the Thys row also has its AP against the clean detections
    thys_patch = load_artifact(THYS_OBJ).to(device)
    thys = evaluate(victim, holdout, thys_patch, class_ids, placement_for(config, thys_patch), goal,
                    conditions=("clean", "adv"))
    meta = {"victim": "yolov5n (COCO, anchor)", "data": "inria_test_pos/holdout", "images": report.loaded,
            "targets": report.targets, "imgsz": config.imgsz, "steps": config.train.steps}
    write_report(out / "holdout_eval", ours, meta)
    table = {**ours.table, "thys2019_obj": thys.table["adv"]}
    print(markdown_table(ours, "holdout"))
    clean, adv = ours.table["clean"], ours.table["adv"]
    row = {
        "clean_ap50": clean["ap50_labels"], "noise_ap50": ours.table["noise"]["ap50_labels"],
        "adv_ap50": adv["ap50_labels"], "thys_obj_ap50": thys.table["adv"]["ap50_labels"],
        "model": "yolov5n_coco (anchor-based YOLOv5 v6.1)", "imgsz": config.imgsz, "steps": config.train.steps,
        "device": device_label(device), "patch_px": config.artifact.size, "placement_scale": config.placement.scale,
        "holdout_images": report.loaded, "holdout_targets": report.targets,
        "ap50_vs_clean_detections": {k: v.get("ap50_clean") for k, v in table.items()},
        "recall25": {k: v["recall25"] for k, v in table.items()},
        "recall25_vs_clean_detections": {k: v.get("recall25_clean") for k, v in table.items()},
        "adv_over_clean": round(adv["ap50_labels"] / clean["ap50_labels"], 3),
        "noise_over_clean": round(ours.table["noise"]["ap50_labels"] / clean["ap50_labels"], 3),
        "labels": config.data.labels, "wall_clock_s": training_seconds(out),
    }  # fmt: skip
    row["artifact"] = keep_artifact(out, args.result, "pseudo" if config.data.labels == "pseudo" else "labels")
    path = RESULTS / f"{args.result}.json"
    # both rows may end at once (benchmarks/gpu_figures.sh trains them side by side): one writer at a time
    with FileLock(RESULTS / f".{args.result}.lock"):
        result = json.loads(path.read_text()) if path.exists() else {}
        if config.data.labels == "pseudo":
            result[PSEUDO_ROW] = row
        else:
            result = {**row, **({PSEUDO_ROW: result[PSEUDO_ROW]} if PSEUDO_ROW in result else {})}
        write_result(args.result, result)


if __name__ == "__main__":
    torch.set_grad_enabled(True)
    main()
