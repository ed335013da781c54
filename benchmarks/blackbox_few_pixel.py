"""Few-pixel attacks against a peer (Su et al. 2019): the CIFAR-10 ResNet20 on cifar10_test/holdout images it
classifies right, untargeted, k = 1, 3, 5 pixels, Su et al.'s budget (population 400, at most 100 generations counting
the first: <= 40,000 queries per image), each image its own run that stops at its first success. patchgen's
differential_evolution and random_search run through the engine (train.begin / run_steps, the victim loaded once
and handed to each run); torchattacks' OnePixel (3.5.1) runs on the first PEER_IMAGES of the same images with the
same budget, timed in the same process. Per-image results go to OUT/few_pixel/results.jsonl as they finish, so a
killed benchmark re-run skips the finished ones; at the end they are copied, each attack's pixels with them, to
results/blackbox/few_pixel.jsonl.

    python benchmarks/blackbox.py --part few_pixel [--out runs/blackbox]
    FEW_PIXEL_IMAGES=N caps the images patchgen attacks beyond the shared ones (CPU time)."""

import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import ASSETS, RESULTS, device_label
from patchgen.class_folders import load_class_images
from patchgen.config import load_config
from patchgen.queries import read_log
from patchgen.training import begin, run_steps
from patchgen.victims import load_victim

VICTIM = f"cifar_resnet20:{ASSETS / 'models' / 'resnet20-12fca82f.th'}"
HOLDOUT = ASSETS / "data" / "cifar10_test" / "holdout"
PIXELS = (1, 3, 5)
POPULATION, GENERATIONS = 400, 100  # Su et al.: 400 members, at most 100 generations (the first counts)
BUDGET = POPULATION * GENERATIONS
PEER_IMAGES = 30
RANDOM_SEARCH_POPULATION = 100  # candidates per step: 400 steps of 100 fill the same 40,000 queries
# Su et al. 2019 (IEEE Trans. Evolutionary Computation 23(5)), Table 2: one pixel, CIFAR-10, non-targeted success on
# their own networks (all-convolution, network-in-network, VGG16). Their 3- and 5-pixel results are on those
# networks too; they are not repeated here (not checked against the paper offline)
SU_ET_AL = {"source": "Su, Vargas, Sakurai 2019, Table 2 (1 pixel, CIFAR-10, non-targeted)",
            "1": {"all_conv": 0.6871, "nin": 0.7166, "vgg16": 0.6353}}

BASE = """\
victim: {victim}
data: {{train: {data}}}
goal: untargeted
artifact: {{kind: pixels, size: 32, pixels: {k}, init: random}}
placement: {{kind: whole_image}}
eot: {{rotation_deg: 0, scale: [1, 1], translate: 0, perspective: 0, brightness: 0, contrast: [1, 1], noise: 0,
      blur_sigma: [0.001, 0.001], colour_jitter: 0}}
loss: {{weights: {{tv: 0, nps: 0}}}}
train: {{steps: {steps}, batch: 1, log_every: 1000000, checkpoint_every: 1000000, stop_on_success: true, seed: {seed},
        device: cpu}}
query: {{budget: {budget}, batch: 100}}  # 100 candidates a call: a success stops the rest of a generation
"""
OPTIMISERS = {
    # scipy's best/1 with F dithered in [0.5, 1) (what torchattacks runs), within Su et al.'s population and budget
    "patchgen_de": ("differential_evolution", GENERATIONS, {"population": POPULATION, "strategy": "best1",
                                                            "mutation": 0.5, "dither": 0.5}),
    "patchgen_random_search": ("random_search", BUDGET // RANDOM_SEARCH_POPULATION,
                               {"population": RANDOM_SEARCH_POPULATION}),
}


def images_it_gets_right(victim):
    """(scenes, order): the holdout images the victim classifies right, in CIFAR test order (file name, then
    class folder), so 'the first 30' is a fixed, mixed-class set."""
    scenes, _ = load_class_images(HOLDOUT, victim, quiet=True)
    with torch.no_grad():
        right = victim(scenes.images.float() / 255 if scenes.images.dtype == torch.uint8 else scenes.images)
    right = (right.argmax(1) == scenes.labels).tolist()
    order = sorted((Path(n).name, n, i) for i, n in enumerate(scenes.names) if right[i])
    return scenes, [i for _, _, i in order]


def image01(scenes, i: int) -> torch.Tensor:
    image = scenes.images[i:i + 1]
    return image.float() / 255 if image.dtype == torch.uint8 else image


def patchgen_attack(method: str, k: int, name: str, label: int, victim, work: Path, seed: int) -> dict:
    """One image, one run through the engine (config -> Setup -> optimiser -> run_steps), stopping at success.
    first_success_query: the position, in the order they were paid for (the run's query log), of the first answer
    that already fooled the victim: what a run that stopped mid-generation at its first success would have paid."""
    kind, steps, settings = OPTIMISERS[method]
    data = work / "data" / name.replace("/", "_")
    if not data.is_dir():
        (data / Path(name).parent).mkdir(parents=True, exist_ok=True)
        shutil.copy(HOLDOUT / name, data / name)
    text = BASE.format(victim=VICTIM, data=data, k=k, steps=steps, seed=seed, budget=BUDGET)
    config_path = work / f"{method}_{k}.yaml"
    config_path.write_text(text)
    sets = [f"optimizer.kind={kind}", *(f"optimizer.{kind}.{key}={value}" for key, value in settings.items())]
    run = work / "run"
    shutil.rmtree(run, ignore_errors=True)
    started = time.perf_counter()
    config = load_config(config_path, sets)
    setup, optimizer, objective, start = begin(config, run, False, "benchmark", victim)
    steps_done = run_steps(setup, optimizer, objective, run, start, False, None)
    fooled = objective.fooled()
    seconds = time.perf_counter() - started
    answers = read_log(objective.account.log_path).values()  # in the order paid for
    first = next((n for n, a in enumerate(answers, 1) if int(a.argmax()) != label), None)
    return {"success": bool(fooled), "queries": objective.account.spent, "steps": steps_done,
            "seconds": round(seconds, 3), "first_success_query": first, "pixels": setup.artifact.sidecar()["pixels"]}


def torchattacks_attack(k: int, image: torch.Tensor, label: int, model, seed: int) -> dict:
    """OnePixel as a user gets it (inf_batch 128, its own early stop), at Su et al.'s budget: its population is
    popsize // (5k) x 5k members (400 for k = 1 and 5; 390 for k = 3, the nearest at or under 400), evaluated over
    `steps` + 1 generations (the first is the initial population)."""
    import torchattacks

    dims = 5 * k
    popsize = (POPULATION // dims) * dims
    attack = torchattacks.OnePixel(model, pixels=k, steps=GENERATIONS - 1, popsize=popsize)
    calls = []
    forward = model.forward

    def counted(x):
        calls.append(len(x))
        return forward(x)

    model.forward = counted
    np.random.seed(seed)
    started = time.perf_counter()
    try:
        adversarial = attack(image, torch.tensor([label]))
        with torch.no_grad():
            success = int(model(adversarial).argmax(1)) != label
    finally:
        model.forward = forward
    seconds = time.perf_counter() - started
    return {"success": bool(success), "queries": sum(calls) - 1, "seconds": round(seconds, 3),
            "population": popsize}


def load_results(path: Path) -> dict:
    results = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by a kill
                continue
            results[(row["method"], row["k"], row["image"])] = row
    return results


def append(path: Path, row: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")
        f.flush()
        os.fsync(f.fileno())


def success_rate(rows: list) -> float:
    return round(sum(r["success"] for r in rows) / len(rows), 4) if rows else float("nan")


def run(out: Path, limit: int | None = None, methods=None) -> dict:
    """limit: attack only the first `limit` images (all methods); else the PEER_IMAGES shared ones by every method,
    then patchgen's DE on as many more as FEW_PIXEL_IMAGES allows."""
    work = Path(out) / "few_pixel"
    work.mkdir(parents=True, exist_ok=True)
    results_path = work / "results.jsonl"
    results = load_results(results_path)
    victim = load_victim(VICTIM, "cpu").eval()
    scenes, order = images_it_gets_right(victim)
    names = [scenes.names[i] for i in order]
    shared = order[:limit or PEER_IMAGES]
    methods = methods or ("patchgen_de", "torchattacks", "patchgen_random_search")

    def attack(method, k, i, seed):
        key = (method, k, scenes.names[i])
        if key in results:
            return results[key]
        if method == "torchattacks":
            row = torchattacks_attack(k, image01(scenes, i), int(scenes.labels[i]), victim, seed)
        else:
            row = patchgen_attack(method, k, scenes.names[i], int(scenes.labels[i]), victim, work, seed)
        row = {"method": method, "k": k, "image": scenes.names[i], **row}
        append(results_path, row)
        results[key] = row
        print(f"few_pixel {method} k={k} {row['image']}: {'fooled' if row['success'] else 'not fooled'}, "
              f"{row['queries']} queries, {row['seconds']:.2f} s", file=sys.stderr)
        return row

    # the shared images first, image by image (each k, every method beside the others), so a benchmark cut short
    # still holds a like-for-like comparison; then patchgen's DE on the images beyond the shared ones
    for seed, i in enumerate(shared):
        for k in PIXELS:
            for method in methods:
                attack(method, k, i, seed)
    extra = int(os.environ.get("FEW_PIXEL_IMAGES", len(order))) if limit is None else len(shared)
    for seed, i in enumerate(order[len(shared):extra], start=len(shared)):
        for k in PIXELS:
            attack("patchgen_de", k, i, seed)
    (RESULTS / "blackbox").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(results_path, RESULTS / "blackbox" / "few_pixel.jsonl")  # the pixels each figure comes from
    return summary(results, [scenes.names[i] for i in shared], names)


def summary(results: dict, shared: list, names: list) -> dict:
    """Success and seconds on the shared images both patchgen's DE and torchattacks finished at every k (all of
    them once the benchmark has run through), and patchgen's DE on every image it finished at every k."""
    def rows(method, k, images):
        return [results[(method, k, n)] for n in images if (method, k, n) in results]

    def finished(method, images):
        return [n for n in images if all((method, k, n) in results for k in PIXELS)]

    compared = finished("torchattacks", finished("patchgen_de", shared))
    methods = sorted({m for m, _, _ in results})
    success = {m: {str(k): success_rate(rows(m, k, compared)) for k in PIXELS} for m in methods}
    seconds = {m: round(sum(r["seconds"] for k in PIXELS for r in rows(m, k, compared)), 1) for m in methods}
    queries = {m: {str(k): round(float(np.mean([r["queries"] for r in rows(m, k, compared)] or [np.nan])), 1)
                   for k in PIXELS} for m in methods}
    everyone = finished("patchgen_de", names)
    return {
        "few_pixel_success": success,
        "few_pixel_images": len(compared),
        "few_pixel_max_queries": BUDGET,
        "few_pixel_seconds": seconds,
        "few_pixel_mean_queries": queries,
        "few_pixel_success_all": {"patchgen_de": {str(k): success_rate(rows("patchgen_de", k, everyone))
                                                  for k in PIXELS}, "images": len(everyone),
                                  "correct_holdout_images": len(names)},
        "few_pixel_su_et_al": SU_ET_AL,
        "few_pixel_images_per_method": {m: len(finished(m, compared)) for m in methods},
        "few_pixel_settings": {"victim": VICTIM, "data": str(HOLDOUT), "goal": "untargeted",
                               "shared_images_planned": len(shared), "population": POPULATION,
                               "generations": GENERATIONS, "random_search_population": RANDOM_SEARCH_POPULATION,
                               "torchattacks": "OnePixel 3.5.1, steps 99, popsize -> 400/390/400 members, "
                                               "inf_batch 128 (its default)",
                               "device": device_label(torch.device("cpu"))},
    }  # fmt: skip


def summary_of(out: Path) -> dict:
    """The summary of what OUT/few_pixel/results.jsonl holds now (a benchmark still running or cut short)."""
    victim = load_victim(VICTIM, "cpu").eval()
    scenes, order = images_it_gets_right(victim)
    names = [scenes.names[i] for i in order]
    return summary(load_results(Path(out) / "few_pixel" / "results.jsonl"), names[:PEER_IMAGES], names)
