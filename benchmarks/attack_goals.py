"""Detector goals beyond vanish, against YOLOv5n (COCO) on INRIA: `appear` (a patch pasted at a random place is
detected as the goal class, a phantom object) and `mislabel` (each person, patched on the torso, is found as the
goal class), trained on dev and evaluated on the holdout it never saw, beside a uniform-random patch of the same
shape at the same places. Resumes interrupted runs.

    python benchmarks/attack_goals.py [--out runs/attack_goals] [--only appear|mislabel] [--set KEY=VALUE]
"""

import argparse
import sys
from pathlib import Path

import torch

sys.path[0] = str(Path(__file__).resolve().parents[1])  # the repo root: benchmarks/printing.py must not hide printing/
from benchmarks.common import INRIA, YOLOV5N, device_label, keep_artifact, write_result  # noqa: E402

from patchgen import registry, run_dir  # noqa: E402
from patchgen.artifacts import load_artifact  # noqa: E402
from patchgen.config import load_config  # noqa: E402
from patchgen.run_evaluation import markdown_table, write_report  # noqa: E402
from patchgen.placements import placement_for  # noqa: E402
from patchgen.device import resolve_device  # noqa: E402
from patchgen.training import train  # noqa: E402
from patchgen.victims import load_victim  # noqa: E402

CONFIGS = Path(__file__).parent / "configs"
GOALS = ("appear", "mislabel")


def run_goal(goal: str, out: Path, overrides) -> dict:
    config = load_config(CONFIGS / f"attack_goals_{goal}.yaml", [f"victim={YOLOV5N}", f"data.train={INRIA / 'dev'}",
                                                                f"data.val={INRIA / 'holdout'}", *overrides])
    run = out / goal
    if not (run / run_dir.ARTIFACT_TENSORS).exists():
        train(config, run, resume=run_dir.holds_run(run))
    device = resolve_device(config.train.device, "train.device")
    victim = load_victim(config.victim, device, config.imgsz)
    family = registry.get("family", "detector")
    holdout, report = family.load_data(config, INRIA / "holdout", victim, registry.entry("goal", goal, "goal"),
                                       training=False)
    artifact = load_artifact(run).to(device)
    placement = placement_for(config, artifact)
    evaluation = family.evaluate(victim, holdout.to(device), artifact, config,
                                 registry.get("goal", goal)(victim, config), placement)
    meta = {"victim": "yolov5n (COCO, anchor)", "goal": goal, "goal_class": config.goal_class,
            "data": "inria_test_pos/holdout", **report.to_dict(), "imgsz": config.imgsz,
            "placement": placement.describe()}
    write_report(run / "holdout_eval", evaluation, meta)
    print(markdown_table(evaluation, f"holdout, {goal} {config.goal_class!r}"))
    return {"table": evaluation.table, "config": config, "report": report, "device": device,
            "artifact": keep_artifact(run, "attack_goals", goal)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/attack_goals")
    parser.add_argument("--only", choices=GOALS)
    parser.add_argument("--set", action="append", default=[])
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    done = {goal: run_goal(goal, Path(args.out), args.set) for goal in GOALS if args.only in (None, goal)}
    if len(done) < len(GOALS):
        return
    appear, mislabel = done["appear"], done["mislabel"]
    write_result("attack_goals", {
        "appear_rate": appear["table"]["adv"]["goal_rate"], "appear_random_rate": appear["table"]["noise"]["goal_rate"],
        "mislabel_rate": mislabel["table"]["adv"]["goal_rate"],
        "mislabel_random_rate": mislabel["table"]["noise"]["goal_rate"],
        "appear_class": appear["config"].goal_class, "mislabel_class": mislabel["config"].goal_class,
        "placement_scale": mislabel["config"].placement.scale, "appear_area_fraction": appear["config"].placement.area,
        "model": "yolov5n_coco (anchor-based YOLOv5 v6.1)", "imgsz": appear["config"].imgsz,
        "holdout_images": appear["report"].loaded, "holdout_people": mislabel["report"].targets,
        "steps": {"appear": appear["config"].train.steps, "mislabel": mislabel["config"].train.steps},
        "mislabel_ap50_labels": {k: v["ap50_labels"] for k, v in mislabel["table"].items()},
        "device": device_label(appear["device"]),
        "artifacts": {goal: done[goal]["artifact"] for goal in GOALS},
    })  # fmt: skip


if __name__ == "__main__":
    main()
