"""A universal patch by queries only: the CIFAR-10 targeted 'cat' patch of benchmarks/attack_classifier.py (10 % of
the area, a random place and rotation, the same EOT), trained against the ResNet20 reached by queries only
(victim_access: query, benchmarks/configs/blackbox_query_patch.yaml) on cifar10_test/dev, and evaluated on holdout
exactly as the classifier benchmark evaluates its white-box patch (goal success over the images judged, the cat
images left out). Beside it, the white-box figure from benchmarks/results/attack_classifier.json.

    python benchmarks/blackbox.py --part query_patch [--out runs/blackbox]
"""

import json
import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])  # the repo root: benchmarks/printing.py must not hide printing/
from benchmarks.attack_person import training_seconds  # noqa: E402
from benchmarks.common import ASSETS, RESULTS, device_label, keep_artifact  # noqa: E402

from patchgen import registry, run_dir as run_files  # noqa: E402
from patchgen.artifacts import load_artifact  # noqa: E402
from patchgen.class_folders import load_class_images  # noqa: E402
from patchgen.classifier_evaluation import evaluate_classifier  # noqa: E402
from patchgen.config import load_config  # noqa: E402
from patchgen.run_evaluation import write_report  # noqa: E402
from patchgen.placements import placement_for  # noqa: E402
from patchgen.device import resolve_device  # noqa: E402
from patchgen.training import train  # noqa: E402
from patchgen.victims import load_victim  # noqa: E402

CONFIG = Path(__file__).parent / "configs" / "blackbox_query_patch.yaml"
CIFAR = ASSETS / "data" / "cifar10_test"
RESNET20 = ASSETS / "models" / "resnet20-12fca82f.th"
TARGET = "cat"


def trained(config, run: Path) -> float:
    """Train the run (or resume it, or reuse it when finished); returns its training seconds, every segment
    counted. A run asked for more steps than it has goes on (one its budget ended resumes only to find it spent)."""
    done = run_files.read_sidecar(run, required=False).get("step", 0) if run.is_dir() else 0
    if done < config.train.steps:
        train(config, run, resume=run_files.holds_run(run))
    return training_seconds(run)


def whitebox_targeted_success() -> dict:
    """The white-box CIFAR 'cat' patch's holdout success, as benchmarks/attack_classifier.py committed it."""
    path = RESULTS / "attack_classifier.json"
    cifar = json.loads(path.read_text()).get("cifar", {}) if path.exists() else {}
    if cifar.get("target_class") != TARGET:
        return {"whitebox_patch_targeted_success": None, "whitebox_source": f"{path}: no CIFAR 'cat' row"}
    return {"whitebox_patch_targeted_success": cifar["targeted_success"],
            "whitebox_source": "benchmarks/results/attack_classifier.json cifar.targeted_success "
                               f"({cifar['steps']['targeted']} Adam steps, {cifar['device']})"}


def run(out: Path, overrides=()) -> dict:
    run_folder = Path(out) / "query_patch"
    config = load_config(CONFIG, [f"victim=cifar_resnet20:{RESNET20}", f"data.train={CIFAR / 'dev'}",
                                  "goal=targeted", f"goal_class={TARGET}", *overrides])
    seconds = trained(config, run_folder)
    device = resolve_device(config.train.device, "train.device")
    victim = load_victim(config.victim, device)  # white-box only to evaluate, as the classifier benchmark does
    holdout, report = load_class_images(CIFAR / "holdout", victim, exclude_classes=[victim.class_id(TARGET)])
    holdout = holdout.to(device)
    artifact = load_artifact(run_folder).to(device)
    placement = placement_for(config, artifact)
    goal = registry.get("goal", "targeted")(victim, config)
    evaluation = evaluate_classifier(victim, holdout, artifact, placement, goal, batch=50, progress=False)
    sidecar = run_files.read_sidecar(run_folder)
    write_report(run_folder / "holdout_eval", evaluation, {"victim": config.victim, "goal": "targeted",
                                                           "goal_class": TARGET, "data": str(CIFAR / "holdout"),
                                                           **report.to_dict(), "placement": placement.describe()})
    table = evaluation.table
    opt = config.optimizer
    return {
        "query_patch_targeted_success": table["adv"]["goal_rate"],
        "query_patch_queries": sidecar["queries"]["spent"],
        **whitebox_targeted_success(),
        "query_patch_random_targeted_success": table["noise"]["goal_rate"],
        "query_patch_clean_top1": table["clean"]["top1"], "query_patch_adv_top1": table["adv"]["top1"],
        "query_patch_judged": table["adv"]["goal_judged"],
        "query_patch_settings": {"optimizer": opt.kind, opt.kind: vars(getattr(opt, opt.kind)),
                                 "cell": config.artifact.cell, "steps": sidecar["step"], "batch": config.train.batch,
                                 "budget": config.query.budget},
        "query_patch_train_seconds": seconds,
        "query_patch_device": device_label(device),
        "query_patch_artifact": keep_artifact(run_folder, "blackbox", "query_patch"),
    }  # fmt: skip


if __name__ == "__main__":
    print(json.dumps(run(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("runs/blackbox"), sys.argv[2:]), indent=1))
