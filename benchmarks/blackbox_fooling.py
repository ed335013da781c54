"""Fooling images by queries only (Nguyen et al. 2015): for each of the 10 CIFAR-10 classes against the ResNet20
(2,000 queries each; the issue allows 10,000) and for 10 ImageNet classes against MobileNetV2 (800 queries each, a
class still below 0.90 going on to 1,600; the issue allows 20,000), an image the victim labels as that class,
grown from noise by the victim's scores alone (benchmarks/configs/blackbox_fooling.yaml:
placement whole_image, EOT off, victim_access query). Each encoding is its own run per class: direct (one value
per pixel) and smooth (1/cell of the side, upsampled bilinearly). Confidence is the victim's probability of the
class for the finished image. Every class's run folder is kept, so a killed benchmark resumes where it stopped.

    python benchmarks/blackbox.py --part fooling [--out runs/blackbox]
"""

import json
import math
import shutil
import statistics
import sys
from pathlib import Path

import torch
import yaml

sys.path[0] = str(Path(__file__).resolve().parents[1])  # the repo root: benchmarks/printing.py must not hide printing/
from benchmarks.blackbox_query_patch import trained  # noqa: E402
from benchmarks.common import ASSETS, RESULTS, device_label, keep_artifact  # noqa: E402

from patchgen import run_dir as run_files  # noqa: E402
from patchgen.artifacts import load_artifact  # noqa: E402
from patchgen.config import load_config  # noqa: E402
from patchgen.training import Setup  # noqa: E402

CONFIG = Path(__file__).parent / "configs" / "blackbox_fooling.yaml"
GRID_PNG = RESULTS / "blackbox" / "fooling.png"
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
# textures and shapes a network knows by their pattern (Nguyen et al.'s easiest classes are of this kind)
# the ten classes MobileNetV2 gives most probability, on average, to 48 random images of the kind random search
# starts from (colour-cube corners on a 28 x 28 grid, bilinear to 224 px): chosen once, before any run, for 48 queries
IMAGENET_CLASSES = ("panpipe", "Windsor tie", "maraca", "fire screen", "gong", "whistle", "prayer rug", "brain coral",
                    "screen", "oscilloscope")
SUITES = {
    "cifar": {"victim": f"cifar_resnet20:{ASSETS / 'models' / 'resnet20-12fca82f.th'}", "size": 32,
              "budget": 2_000, "bar_budget": 10_000, "classes": CIFAR_CLASSES, "cells": {"direct": 1, "smooth": 4},
              "seeds": {"dog": ASSETS / "data" / "cifar10_test" / "dev" / "dog" / "0000.jpg",
                        "cat": ASSETS / "data" / "cifar10_test" / "dev" / "cat" / "0004.jpg"}},
    "imagenet": {"victim": "mobilenet_v2-imagenet", "size": 224, "budget": 800, "bar_budget": 20_000,
                 "go_on_below": 0.9, "classes": IMAGENET_CLASSES,
                 "cells": {"direct": 1, "smooth": 8},
                 "seeds": {"0": ASSETS / "data" / "imagenet_samples" / "dev" / "n01440764_tench.jpg"}},
}
CIFAR_BAR = 0.99
PLAN = {"cifar": ("direct", "smooth"), "imagenet": ("smooth",)}  # ImageNet's direct encoding: see BENCHMARKS.md


def one_image_folder(suite: dict, goal_class: str, out: Path) -> Path:
    """The class folder training needs: one dev image (the artifact covers it whole, so which one is irrelevant),
    not of the goal class (a targeted run leaves those out)."""
    seed_class, seed = next((c, path) for c, path in suite["seeds"].items() if c != goal_class)
    folder = out / f"seed_{seed_class}"
    target = folder / seed_class / seed.name
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(seed, target)
    return folder


@torch.no_grad()
def confidence(config, run: Path) -> tuple[float, torch.Tensor]:
    """The goal class's probability for the finished fooling image, rendered as evaluation renders it, and the
    image."""
    setup = Setup(config, quiet=True)
    setup.artifact = load_artifact(run).to(setup.device)
    scenes = setup.scenes.batch(torch.arange(1, device=setup.device))
    params = setup.placement.evaluation_params(1, torch.Generator(setup.device).manual_seed(0))
    image = setup.render(scenes.images, setup.placement.place(scenes, params), params)
    _, probs = setup.victim.predict(image)
    return float(probs[0, setup.victim.class_id(config.goal_class)]), image[0].float().cpu()


def queries_to(run: Path, level: float) -> int | None:
    """Queries spent when the logged loss (minus the log-probability of the class, on the very image: EOT is off)
    first showed the class at `level` confidence."""
    for row in run_files.read_metrics(run):
        if math.exp(-row["adversarial"]) >= level:
            return row["queries"]
    return None


def run_suite(name: str, encoding: str, out: Path) -> dict:
    suite = SUITES[name]
    folder = out / "fooling" / f"{name}_{encoding}"
    results = {}
    # the square schedule spans the budget: every step pays for `population` new images (no EOT: the kept one is
    # a cached answer)
    steps = suite["budget"] // yaml.safe_load(CONFIG.read_text())["optimizer"]["random_search"]["population"]
    for cls in suite["classes"]:
        data = one_image_folder(suite, cls, folder)
        sets = [f"victim={suite['victim']}", f"data.train={data}", f"goal_class={cls}",
                f"artifact.size={suite['size']}", f"artifact.cell={suite['cells'][encoding]}"]
        config = load_config(CONFIG, [*sets, f"query.budget={suite['budget']}", f"train.steps={steps}"])
        run = folder / cls.replace(" ", "_")
        seconds = trained(config, run)
        conf, image = confidence(config, run)
        if conf < suite.get("go_on_below", 0):  # not there yet: the same run goes on, its budget doubled
            config = load_config(CONFIG, [*sets, f"query.budget={2 * suite['budget']}", f"train.steps={2 * steps}"])
            seconds = trained(config, run)
            conf, image = confidence(config, run)
        results[cls] = {"confidence": round(conf, 4), "queries": run_files.read_sidecar(run)["queries"]["spent"],
                        "queries_to_0.99": queries_to(run, CIFAR_BAR), "queries_to_0.90": queries_to(run, 0.9),
                        "seconds": seconds, "image": image,
                        "artifact": keep_artifact(run, "blackbox", f"fooling/{name}_{encoding}/{run.name}")}
        print(f"fooling {name} {encoding} {cls}: confidence {conf:.4f}", file=sys.stderr)
    return results


def grid(rows: dict[str, dict], path: Path, side: int = 64) -> None:
    """One row per suite and encoding: each class's image (nearest-upscaled to `side` px) over its name and
    confidence."""
    from PIL import Image, ImageDraw

    columns = max(len(r) for r in rows.values())
    label, title = 22, 110
    sheet = Image.new("RGB", (title + columns * side, len(rows) * (side + label)), "white")
    draw = ImageDraw.Draw(sheet)
    for y, (row_name, results) in enumerate(rows.items()):
        top = y * (side + label)
        draw.text((4, top + side // 2 - 6), row_name, fill="black")
        for x, (cls, r) in enumerate(results.items()):
            pixels = (r["image"].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
            tile = Image.fromarray(pixels).resize((side, side), Image.NEAREST if pixels.shape[0] < side else
                                                  Image.BILINEAR)
            sheet.paste(tile, (title + x * side, top))
            draw.text((title + x * side + 1, top + side), cls[:10], fill="black")
            draw.text((title + x * side + 1, top + side + 10), f"{r['confidence']:.3f}", fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, optimize=True)


def run(out: Path, plan=PLAN) -> dict:
    """plan: the encodings run per suite (a killed benchmark resumes each class's run where it stopped)."""
    out = Path(out)
    suites = {(name, enc): run_suite(name, enc, out) for name, encodings in plan.items() for enc in encodings}
    grid({f"{name} {enc}": r for (name, enc), r in suites.items()}, GRID_PNG)
    by_encoding = {f"{name}_{enc}": {
        "confidence": {cls: r["confidence"] for cls, r in results.items()},
        "median_confidence": round(statistics.median(r["confidence"] for r in results.values()), 4),
        "classes_at_0.99": sum(r["confidence"] >= CIFAR_BAR for r in results.values()),
        "runs": {cls: {k: v for k, v in r.items() if k not in ("image", "confidence")} for cls, r in results.items()},
    } for (name, enc), results in suites.items()}
    # the headline keys: each suite's better encoding (every encoding run is under fooling_by_encoding)
    best = {name: max(encodings, key=lambda e: (by_encoding[f"{name}_{e}"]["classes_at_0.99"],
                                                by_encoding[f"{name}_{e}"]["median_confidence"]))
            for name, encodings in plan.items()}
    cifar, imagenet = by_encoding[f"cifar_{best['cifar']}"], by_encoding[f"imagenet_{best['imagenet']}"]
    return {
        "fooling_cifar_classes_reached": cifar["classes_at_0.99"],
        "fooling_cifar_confidence": cifar["confidence"],
        "fooling_imagenet_median_confidence": imagenet["median_confidence"],
        "fooling_queries": {name: {"budget_per_class": SUITES[name]["budget"],
                                   "doubled_below": SUITES[name].get("go_on_below"),
                                   "most_spent": max(r["queries"] for r in by_encoding[f"{name}_{best[name]}"][
                                       "runs"].values()),
                                   "bar_allows": SUITES[name]["bar_budget"]} for name in plan},
        "fooling_encoding": best,
        "fooling_imagenet_classes": list(IMAGENET_CLASSES),
        "fooling_by_encoding": by_encoding,
        "fooling_device": device_label(torch.device("cpu")),
    }


if __name__ == "__main__":
    print(json.dumps(run(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("runs/blackbox")), indent=1))
