"""Classifier patches (Brown et al. 2017): a targeted and an untargeted patch covering 10 % of the image area at
a random place and rotation, trained on a dev split and evaluated on the holdout it never saw (images of the
target class left out), beside a uniform-random patch of the same mask and size. Two rows: the ImageNet
MobileNetV2 (target 'toaster', class 859) and the CIFAR-10 ResNet20 (target 'cat'). Resumes interrupted runs.

    python benchmarks/attack_classifier.py [--out runs/attack_classifier] [--only imagenet|cifar] [--set KEY=VALUE]
"""

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path[0] = str(Path(__file__).resolve().parents[1])  # the repo root: benchmarks/printing.py must not hide printing/
from benchmarks.common import ASSETS, RESULTS, device_label, keep_artifact, write_result  # noqa: E402

from patchgen import registry, run_dir  # noqa: E402
from patchgen.artifacts import load_artifact  # noqa: E402
from patchgen.class_folders import load_class_images  # noqa: E402
from patchgen.classifier_evaluation import evaluate_classifier  # noqa: E402
from patchgen.config import load_config  # noqa: E402
from patchgen.run_evaluation import markdown_table, write_report  # noqa: E402
from patchgen.placements import placement_for  # noqa: E402
from patchgen.device import resolve_device  # noqa: E402
from patchgen.training import train  # noqa: E402
from patchgen.victims import load_victim  # noqa: E402

CONFIGS = Path(__file__).parent / "configs"
RESULT = RESULTS / "attack_classifier.json"
ROWS = {
    "imagenet": {"config": CONFIGS / "attack_classifier_imagenet.yaml", "data": ASSETS / "data" / "imagenet_samples",
                 "target": "toaster", "model": "mobilenet_v2 (ImageNet, torchvision IMAGENET1K_V1)",
                 "steps": {"untargeted": 400}},  # untargeted converges in far fewer steps than targeted
    "cifar": {"config": CONFIGS / "attack_classifier_cifar.yaml", "data": ASSETS / "data" / "cifar10_test",
              "target": "cat", "model": "resnet20 (CIFAR-10, akamaster)",
              "steps": {"untargeted": 1500}},
}


def trained(row: dict, goal: str, out: Path, overrides) -> tuple:
    """The run for one goal, trained (or resumed, or reused when finished); returns (config, run folder)."""
    sets = [f"goal={goal}", f"data.train={row['data'] / 'dev'}", f"data.val={row['data'] / 'holdout'}"]
    if goal == "targeted":
        sets.append(f"goal_class={row['target']}")
    if goal in row.get("steps", {}):
        sets.append(f"train.steps={row['steps'][goal]}")
    config = load_config(row["config"], [*sets, *overrides])
    done = run_dir.read_sidecar(out, required=False).get("step", 0) if out.is_dir() else 0
    if done < config.train.steps:  # not started, interrupted, or asked to go on (a resume may add steps)
        train(config, out, resume=run_dir.holds_run(out))
    return config, out


def covered_fraction(placement, scenes, artifact) -> float:
    """The share of image pixels the evaluation's placed artifact actually covers (its mask's alpha, summed
    over every holdout image): what 'at most 10 % of the image' is checked against."""
    from patchgen import eot

    part = scenes.batch(torch.arange(min(64, len(scenes)), device=scenes.images.device))
    generator = torch.Generator(part.images.device).manual_seed(0)
    params = placement.evaluation_params(len(part), generator)
    black = torch.zeros_like(part.images)
    white = torch.ones(3, artifact.size, artifact.size, device=black.device)
    covered = eot.render(white, artifact.mask, black, placement.place(part, params), params)
    return float(covered[:, 0].mean())


def evaluate_row(name: str, row: dict, out: Path, overrides) -> dict:
    results = {}
    for goal in ("targeted", "untargeted"):
        config, run = trained(row, goal, out / name / goal, overrides)
        device = resolve_device(config.train.device, "train.device")
        victim = load_victim(config.victim, device)
        target = victim.class_id(row["target"])
        holdout, report = load_class_images(row["data"] / "holdout", victim, exclude_classes=[target])
        holdout = holdout.to(device)
        artifact = load_artifact(run).to(device)
        placement = placement_for(config, artifact)
        goal_object = registry.get("goal", goal)(victim, config)
        evaluation = evaluate_classifier(victim, holdout, artifact, placement, goal_object, batch=50)
        meta = {"victim": config.victim, "goal": goal, "goal_class": config.goal_class,
                "data": str(row["data"] / "holdout"), **report.to_dict(), "placement": placement.describe()}
        write_report(run / "holdout_eval", evaluation, meta)
        print(markdown_table(evaluation, f"{name} {goal}"))
        results[goal] = (evaluation.table, report, covered_fraction(placement, holdout, artifact), config, device)
    targeted, report, covered, config, device = results["targeted"]
    untargeted = results["untargeted"][0]
    clean, noise = targeted["clean"]["top1"], targeted["noise"]["top1"]
    return {
        "clean_top1": clean, "random_top1": noise, "targeted_success": targeted["adv"]["goal_rate"],
        "random_targeted_success": targeted["noise"]["goal_rate"], "untargeted_top1": untargeted["adv"]["top1"],
        "untargeted_top1_drop": round(untargeted["clean"]["top1"] - untargeted["adv"]["top1"], 4),
        "random_top1_drop": round(clean - noise, 4), "patch_area_fraction": round(covered, 4),
        "placement_area": config.placement.area, "target_class": row["target"], "model": row["model"],
        "holdout_images": report.images, "patch_px": config.artifact.size,
        "steps": {"targeted": config.train.steps, "untargeted": results["untargeted"][3].train.steps},
        "device": device_label(device),
    }  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/attack_classifier")
    parser.add_argument("--only", choices=list(ROWS))
    parser.add_argument("--set", action="append", default=[])
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = {name: evaluate_row(name, row, Path(args.out), args.set) for name, row in ROWS.items()
            if args.only in (None, name)}
    # one row rerun (--only) replaces that row and keeps the other's figures
    previous = json.loads(RESULT.read_text()) if RESULT.exists() else {}
    imagenet = rows.get("imagenet") or {k: v for k, v in previous.items() if k not in ("cifar", "artifacts")}
    cifar = rows.get("cifar") or previous.get("cifar", {})
    kept = {f"{name}_{goal}": keep_artifact(Path(args.out) / name / goal, "attack_classifier", f"{name}_{goal}")
            for name in rows for goal in ("targeted", "untargeted")}
    artifacts = {**previous.get("artifacts", {}), **kept}
    write_result("attack_classifier", {**imagenet, "cifar": cifar, "artifacts": artifacts})


if __name__ == "__main__":
    main()
