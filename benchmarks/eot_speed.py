"""Throughput of EOT attack training against the bare victim, measured side by side in one run (alternating, so
machine load hits every contender alike):

  detector (YOLOv5n by default; --model takes any patchgen victim): the bare victim's forward+backward w.r.t. its
  input; patchgen's full training step; a straightforward Kornia `AugmentationSequential` pipeline doing the same
  transforms (each instance augmented at its own size, warped over the whole image, composited slot by slot);
  classifier (the CIFAR-10 ResNet20 at 32 px): IBM ART's `AdversarialPatchPyTorch`, the bare classifier under
  ART (`loss_gradient`), and patchgen's step on that classifier.
Plus peak memory of one bare and one step call (in fresh processes), and bare/step throughput against batch size
and image size.

ART is not a project dependency: `bash benchmarks/art_env.sh` makes `.venv-art` (the project's packages plus ART);
run this script with its Python. Without ART, `--no-art` measures the rest and leaves the ART keys null.

    .venv-art/bin/python benchmarks/eot_speed.py [--imgsz 320] [--batch 8] [--device auto] [--repeats 10]
"""

import argparse
import ctypes
import multiprocessing
import sys
import time
from pathlib import Path

import torch

sys.path[0] = str(Path(__file__).resolve().parents[1])  # the repo root: benchmarks/printing.py must not hide printing/
from benchmarks.common import ASSETS, INRIA, YOLOV5N, device_label, write_result  # noqa: E402

from patchgen.config import load_config  # noqa: E402
from patchgen.training import Setup  # noqa: E402

RESNET20 = ASSETS / "models" / "resnet20-12fca82f.th"
CIFAR = ASSETS / "data" / "cifar10_test"
CIFAR_CONFIG = Path(__file__).parent / "configs" / "attack_classifier_cifar.yaml"


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def detector_setup(model: str, imgsz: int, batch: int, device: str) -> Setup:
    # class 0 is COCO's person: by index, because an untrained architecture yaml (yolov8n.yaml) has no class names
    config = load_config(None, [f"victim={model}", "target_classes=[0]", f"data.train={INRIA / 'dev'}",
                                f"imgsz={imgsz}", f"train.batch={batch}", f"train.device={device}",
                                "artifact.size=100"])
    return Setup(config, quiet=True)


def bare_and_step(setup: Setup) -> dict:
    """The bare victim's forward+backward on one fixed batch, and the full training step (draw, render, victim,
    Adam), as zero-argument callables."""
    optimizer = torch.optim.Adam(setup.artifact.parameters(), lr=0.01)
    fixed = setup.scenes.batch(setup.draw()[0])

    def bare():
        images = fixed.images.clone().contiguous(memory_format=setup.memory_format).requires_grad_(True)
        with setup.autocast:
            loss = setup.goal.loss(setup.model(images), fixed, None).float().mean()  # the run's own goal
        loss.backward()

    def step():
        total = setup.step_loss(*setup.draw())[0]
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()

    return {"bare": bare, "step": step}


def naive_kornia(setup: Setup):
    """The same EOT as the step, the way a straightforward Kornia pipeline does it: every instance's colour and
    geometry augmented by AugmentationSequential at the artifact's size, then warped over the whole image."""
    import kornia.augmentation as K
    from kornia.geometry.transform import warp_perspective

    s = setup.config.eot
    colour = K.AugmentationSequential(
        K.ColorJiggle(brightness=s.brightness, contrast=tuple(s.contrast), p=1.0),
        K.RandomGaussianNoise(std=s.noise, p=1.0),
        K.RandomGaussianBlur((5, 5), tuple(s.blur_sigma), p=1.0))
    geometry = K.AugmentationSequential(
        K.RandomAffine(degrees=s.rotation_deg, translate=(s.translate, s.translate), scale=tuple(s.scale), p=1.0),
        K.RandomPerspective(distortion_scale=2 * s.perspective, p=1.0))
    optimizer = torch.optim.Adam(setup.artifact.parameters(), lr=0.01)

    def step():
        index, params = setup.draw()
        scenes = setup.scenes.batch(index)
        base, valid = setup.placement.base(scenes, params)  # the placement alone: Kornia draws the jitter
        b, n = valid.shape
        h, w = scenes.images.shape[-2:]
        patch, mask = setup.artifact.appearance(params)
        rgb = colour(patch.expand(b * n, *patch.shape[-3:]).contiguous()).clamp(0, 1)
        rgba = geometry(torch.cat([rgb * mask, mask.expand(b * n, 1, *mask.shape[-2:])], 1))
        warped = warp_perspective(rgba, base, (h, w)).view(b, n, 4, h, w) * valid.view(b, n, 1, 1, 1)
        images = scenes.images
        for slot in range(n):
            images = images * (1 - warped[:, slot, 3:]) + warped[:, slot, :3]
        with setup.autocast:
            images = images.contiguous(memory_format=setup.memory_format)
            loss = setup.goal.loss(setup.model(images), scenes, None).float().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def classifier_setup(batch: int, device: str) -> Setup:
    config = load_config(CIFAR_CONFIG, [f"victim=cifar_resnet20:{RESNET20}", f"data.train={CIFAR / 'dev'}",
                                        "goal=targeted", "goal_class=cat", f"train.batch={batch}",
                                        f"train.device={device}"])
    return Setup(config, quiet=True)


def art_contenders(setup: Setup, repeats: int) -> dict:
    """ART's AdversarialPatchPyTorch on patchgen's own copy of the classifier (the same module, [0,1] in, logits
    out), its transforms set to the config's ranges as far as ART has them; one call = `repeats` iterations."""
    import numpy as np
    from art.attacks.evasion import AdversarialPatchPyTorch
    from art.estimators.classification import PyTorchClassifier

    batch, side = setup.local_batch, setup.imgsz
    classifier = PyTorchClassifier(model=setup.victim, loss=torch.nn.CrossEntropyLoss(), input_shape=(3, side, side),
                                   nb_classes=len(setup.victim.names), clip_values=(0.0, 1.0),
                                   device_type="gpu" if setup.device.type == "cuda" else "cpu")
    x = setup.scenes.batch(setup.draw()[0]).images.cpu().numpy().astype(np.float32)
    target = np.eye(len(setup.victim.names), dtype=np.float32)[[setup.victim.class_id("cat")] * batch]
    s = setup.config.eot
    area_scale = setup.config.placement.area**0.5  # ART's scale is the patch's side over the image's
    attack = AdversarialPatchPyTorch(classifier, rotation_max=s.rotation_deg, scale_min=area_scale * min(s.scale),
                                     scale_max=area_scale * max(s.scale), distortion_scale_max=2 * s.perspective,
                                     learning_rate=0.1, max_iter=repeats, batch_size=batch,
                                     patch_shape=(3, setup.config.artifact.size, setup.config.artifact.size),
                                     patch_type="circle", targeted=True, verbose=False)

    def art_bare():
        for _ in range(repeats):
            classifier.loss_gradient(x, target)

    def art():
        attack.generate(x, target)

    return {"art_bare": art_bare, "art": art}


def rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def peak_memory_child(args, name: str, queue):
    """In a fresh process: the peak memory one call of `name` adds to what the process holds between calls
    (weights, data set), after a warm-up call. CUDA: the caching allocator's peak; CPU: peak resident set."""
    torch.set_num_threads(args.threads or torch.get_num_threads())
    fn = bare_and_step(detector_setup(args.model, args.imgsz, args.batch, args.device))[name]
    fn()
    device = torch.device("cuda") if torch.cuda.is_available() and args.device != "cpu" else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        held = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        queue.put((torch.cuda.max_memory_allocated() - held) / 2**20)
        return
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # hand freed blocks back, so the baseline is what is really held
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak resident set (VmHWM) to now
    held = rss_kb("VmRSS")
    fn()
    queue.put((rss_kb("VmHWM") - held) / 1024)


def peak_memory_mb(args, name: str) -> float:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=peak_memory_child, args=(args, name, queue))
    child.start()
    value = queue.get(timeout=900)
    child.join()
    return round(value, 1)


def images_per_second(contenders: dict, images_per_call: dict, repeats: int, device) -> dict:
    """Each contender called `repeats` times, round-robin, after two warm-up rounds."""
    for _ in range(2):
        for fn in contenders.values():
            fn()
    seconds = dict.fromkeys(contenders, 0.0)
    for _ in range(repeats):
        for name, fn in contenders.items():
            sync(device)
            start = time.perf_counter()
            fn()
            sync(device)
            seconds[name] += time.perf_counter() - start
    return {name: round(images_per_call[name] * repeats / seconds[name], 2) for name in contenders}


def sweep(args, device: str, batches, sizes) -> list[dict]:
    rows = []
    for imgsz, batch in [(args.imgsz, b) for b in batches] + [(s, args.batch) for s in sizes if s != args.imgsz]:
        setup = detector_setup(args.model, imgsz, batch, device)
        speed = images_per_second(bare_and_step(setup), {"bare": batch, "step": batch}, args.sweep_repeats,
                                  setup.device)
        rows.append({"imgsz": imgsz, "batch": batch, "bare_img_s": speed["bare"], "step_img_s": speed["step"],
                     "ratio": round(speed["step"] / speed["bare"], 3)})
        print(rows[-1], flush=True)
        del setup
    return rows


def integers(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--model", default=str(YOLOV5N))
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--no-art", action="store_true", help="without ART (its keys stay null)")
    parser.add_argument("--sweep-batches", type=integers, default=[8, 16, 32, 64, 128])
    parser.add_argument("--sweep-sizes", type=integers, default=[320, 640, 960, 1280])
    parser.add_argument("--sweep-repeats", type=int, default=3)
    parser.add_argument("--result", help="results/NAME.json (default eot_speed_cuda or eot_speed_cpu)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.no_art:
        try:
            import art  # noqa: F401
        except ImportError:
            sys.exit("eot_speed: ART is not installed here: run `bash benchmarks/art_env.sh` and this script with "
                     ".venv-art/bin/python, or pass --no-art")

    setup = detector_setup(args.model, args.imgsz, args.batch, args.device)
    device = setup.device
    contenders = {**bare_and_step(setup), "naive_kornia": naive_kornia(setup)}
    detector = images_per_second(contenders, dict.fromkeys(contenders, args.batch), args.repeats, device)
    print("detector", detector, flush=True)
    slots = setup.slots

    classifier = classifier_setup(args.batch, args.device)
    on_classifier = {"patchgen_on_art_model": bare_and_step(classifier)["step"]}
    calls = {"patchgen_on_art_model": args.batch}
    if not args.no_art:
        on_classifier.update(art_contenders(classifier, args.repeats))
        calls.update(art=args.batch * args.repeats, art_bare=args.batch * args.repeats)
    art_speed = images_per_second(on_classifier, calls, max(2, args.repeats // 4) if not args.no_art else
                                  args.repeats, classifier.device)
    print("classifier", art_speed, flush=True)
    del setup, classifier

    memory = {name: peak_memory_mb(args, name) for name in ("bare", "step")}
    print("peak memory MB", memory, flush=True)
    result = {
        "bare_img_s": detector["bare"], "step_img_s": detector["step"], "naive_kornia_img_s": detector["naive_kornia"],
        "ratio": round(detector["step"] / detector["bare"], 3),
        "naive_kornia_ratio": round(detector["naive_kornia"] / detector["bare"], 3),
        "art_img_s": art_speed.get("art"), "art_bare_img_s": art_speed.get("art_bare"),
        "patchgen_on_art_model_img_s": art_speed["patchgen_on_art_model"],
        "art_over_art_bare": round(art_speed["art"] / art_speed["art_bare"], 3) if "art" in art_speed else None,
        "patchgen_over_art": round(art_speed["patchgen_on_art_model"] / art_speed["art"], 2)
        if "art" in art_speed else None,
        "bare_peak_mem_mb": memory["bare"], "step_peak_mem_mb": memory["step"],
        "step_over_bare_mem": round(memory["step"] / memory["bare"], 3),
        "batch": args.batch, "imgsz": args.imgsz, "targets_per_image": int(slots),
        "model": "yolov5n (anchor, COCO)" if args.model == str(YOLOV5N) else Path(args.model).name,
        "art_model": "resnet20 (CIFAR-10) at 32 px, batch " + str(args.batch),
        "device": device_label(device), "repeats": args.repeats,
        "sweep": sweep(args, args.device, args.sweep_batches, args.sweep_sizes),
    }  # fmt: skip
    print(result)
    write_result(args.result or f"eot_speed_{'cuda' if device.type == 'cuda' else 'cpu'}", result)


if __name__ == "__main__":
    main()
