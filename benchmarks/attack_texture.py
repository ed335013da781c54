"""Textures, camouflage and stickers against YOLOv5n (COCO), class person: trained on INRIA dev, evaluated on
the holdout it never saw (AP@0.5 against the labels, the artifact on every labelled person).

- texture: a tile over each torso under random toroidal crops and a TPS cloth warp, beside a random texture of the
  same palette (random blobs of the trained tile's own colours, k-means in CIELAB) and uniform noise;
- camouflage: the same, held to 8 colours of a forest-floor photo; how much of the texture's AP drop it keeps, and
  the share of its pixels within CIELAB ΔE2000 10 of a palette colour;
- stickers: 4 pieces whose area together is that of the spine's 0.2-diagonal patch, beside random stickers of
  the same masks.

Resumes interrupted runs; writes benchmarks/results/attack_texture.json and preview images beside it.

    python benchmarks/attack_texture.py [--out runs/attack_texture] [--set KEY=VALUE] [--threads N]
"""

import argparse
import sys
from pathlib import Path

import torch
from PIL import Image

sys.path[0] = str(Path(__file__).resolve().parents[1])  # the repo root, so benchmarks/printing.py cannot shadow it
from benchmarks.common import (  # noqa: E402
    ASSETS, INRIA, RESULTS, YOLOV5N, device_label, keep_artifact, write_result)

from patchgen import registry, run_dir  # noqa: E402
from patchgen.artifacts import load_artifact  # noqa: E402
from patchgen.artifacts.camouflage import Camouflage  # noqa: E402
from patchgen.config import load_config  # noqa: E402
from patchgen.run_evaluation import markdown_table, write_report  # noqa: E402
from patchgen.placements import placement_for  # noqa: E402
from patchgen.device import resolve_device  # noqa: E402
from patchgen.training import train  # noqa: E402
from patchgen.victims import load_victim  # noqa: E402
from printing.palette_from_photo import palette_from_colours  # noqa: E402
from skimage.color import deltaE_ciede2000, rgb2lab  # noqa: E402

CONFIGS = Path(__file__).parent / "configs"
REFERENCE = ASSETS / "data" / "imagenet_samples" / "dev" / "n12985857_coral_fungus.jpg"
PREVIEWS = RESULTS / "attack_texture"
SPINE_PATCH = 0.2  # the spine's patch: a square of 0.2 x the box diagonal
PALETTE_DELTA_E = 10.0
RUNS = ("texture", "camouflage", "stickers")
PREVIEW_PX = 960  # the previews' longer side


class Bench:
    """The victim and the holdout, loaded once; one trained run per config."""

    def __init__(self, out: Path, overrides):
        self.out, self.overrides = out, list(overrides)
        base = self.config("texture")
        self.device = resolve_device(base.train.device, "train.device")
        self.victim = load_victim(base.victim, self.device, base.imgsz)
        family = registry.get("family", "detector")
        self.family = family
        holdout, self.report = family.load_data(base, INRIA / "holdout", self.victim,
                                                registry.entry("goal", "vanish", "goal"), training=False)
        self.holdout = holdout.to(self.device)

    def config(self, name: str):
        return load_config(CONFIGS / f"attack_texture_{name}.yaml",
                           [f"victim={YOLOV5N}", f"data.train={INRIA / 'dev'}", f"data.val={INRIA / 'holdout'}",
                            f"artifact.reference={REFERENCE}" if name == "camouflage" else "imgsz=320",
                            *self.overrides])

    def trained(self, name: str):
        config, run = self.config(name), self.out / name
        if not (run / run_dir.ARTIFACT_TENSORS).exists():
            train(config, run, resume=run_dir.holds_run(run))
        return config, run, load_artifact(run).to(self.device)

    def evaluate(self, config, artifact, title: str, report_dir: Path, conditions=("clean", "noise", "adv")):
        goal = registry.get("goal", config.goal)(self.victim, config)
        placement = placement_for(config, artifact)
        from patchgen.detector_evaluation import evaluate

        evaluation = evaluate(self.victim, self.holdout, artifact, [self.victim.class_id("person")], placement,
                              goal, conditions=conditions)
        meta = {"victim": "yolov5n (COCO, anchor)", "artifact": title, "data": "inria_test_pos/holdout",
                **self.report.to_dict(), "imgsz": config.imgsz, "placement": placement.describe()}
        write_report(report_dir, evaluation, meta)
        print(markdown_table(evaluation, f"holdout, {title}"))
        return evaluation.table


def tile_palette(texture, colours: int) -> torch.Tensor:
    """(K,3): the trained tile's own colours, k-means in CIELAB (cluster medoids)."""
    pixels = texture().detach().permute(1, 2, 0).reshape(-1, 3).cpu().double().numpy()
    return torch.tensor(palette_from_colours(pixels, colours), dtype=torch.float32)


def palette_fraction(tile: torch.Tensor, palette: torch.Tensor) -> float:
    """The share of the tile's pixels within ΔE2000 PALETTE_DELTA_E of their nearest palette colour."""
    pixels = rgb2lab(tile.detach().permute(1, 2, 0).reshape(-1, 1, 3).cpu().double().numpy())
    colours = rgb2lab(palette.cpu().double().numpy()[None])
    nearest = deltaE_ciede2000(pixels, colours).min(1)  # (P,1,3) against (1,K,3): every pixel, every colour
    return float((nearest <= PALETTE_DELTA_E).mean())


def keep_previews(name: str, run: Path) -> None:
    """The EOT renders and holdout examples as small JPEGs, for BENCHMARKS.md (the artifact itself: keep_artifact)."""
    PREVIEWS.mkdir(parents=True, exist_ok=True)
    for source, stem in ((run / run_dir.RENDERS_PNG, "renders"), (run / "holdout_eval" / "grid.png", "grid")):
        image = Image.open(source).convert("RGB")
        image.thumbnail((PREVIEW_PX, PREVIEW_PX))
        image.save(PREVIEWS / f"{name}_{stem}.jpg", quality=85)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/attack_texture")
    parser.add_argument("--set", action="append", default=[])
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    bench = Bench(out, args.set)
    runs = {name: bench.trained(name) for name in RUNS}

    texture_config, texture_run, texture = runs["texture"]
    texture_table = bench.evaluate(texture_config, texture, "texture", texture_run / "holdout_eval")
    camo_config, camo_run, camo = runs["camouflage"]
    random_texture = Camouflage(texture.tile_px, tile_palette(texture, camo_config.artifact.colours),
                                texture.crop_px, camo_config.artifact.cell).random_like(
                                    torch.Generator(bench.device).manual_seed(1))
    random_table = bench.evaluate(texture_config, random_texture, "random texture of the texture's palette",
                                  out / "random_texture_eval", conditions=("adv",))
    camo_table = bench.evaluate(camo_config, camo, "camouflage", camo_run / "holdout_eval")
    stickers_config, stickers_run, stickers = runs["stickers"]
    stickers_table = bench.evaluate(stickers_config, stickers, "stickers", stickers_run / "holdout_eval")
    for name, (_, run, _) in runs.items():
        keep_previews(name, run)
    artifacts = {name: keep_artifact(run, "attack_texture", name) for name, (_, run, _) in runs.items()}

    clean = texture_table["clean"]["ap50_labels"]
    texture_drop = clean - texture_table["adv"]["ap50_labels"]
    camo_drop = clean - camo_table["adv"]["ap50_labels"]
    camo.train().at_step(1.0)  # the soft choice at the end of training, before the export hardens it
    soft_fraction = palette_fraction(camo(), camo.palette)
    camo.eval()
    pieces = stickers_config.artifact.pieces
    sticker_area = float(sum(p.side**2 * m.mean() for p, m in zip(pieces, stickers.mask.cpu())))
    write_result("attack_texture", {
        "clean_ap50": clean,
        "random_texture_ap50": random_table["adv"]["ap50_labels"],
        "noise_texture_ap50": texture_table["noise"]["ap50_labels"],
        "adv_texture_ap50": texture_table["adv"]["ap50_labels"],
        "camo_ap50": camo_table["adv"]["ap50_labels"],
        "camo_random_ap50": camo_table["noise"]["ap50_labels"],
        "camo_palette_fraction": palette_fraction(camo(), camo.palette),
        "camo_palette_fraction_soft": round(soft_fraction, 4),
        "camo_kept_drop": round(camo_drop / texture_drop, 3) if texture_drop > 0 else None,
        "random_stickers_ap50": stickers_table["noise"]["ap50_labels"],
        "adv_stickers_ap50": stickers_table["adv"]["ap50_labels"],
        "sticker_area_fraction_of_patch": round(sticker_area / SPINE_PATCH**2, 4),
        "adv_texture_over_clean": round(texture_table["adv"]["ap50_labels"] / clean, 3),
        "random_texture_over_clean": round(random_table["adv"]["ap50_labels"] / clean, 3),
        "camo_palette": camo.sidecar()["palette"], "reference_photo": REFERENCE.name,
        "tables": {"texture": texture_table, "camouflage": camo_table, "stickers": stickers_table,
                     "random_texture": random_table},
        "model": "yolov5n_coco (anchor-based YOLOv5 v6.1)", "imgsz": texture_config.imgsz,
        "holdout_images": bench.report.loaded, "holdout_people": bench.report.targets,
        "steps": {name: config.train.steps for name, (config, _, _) in runs.items()},
        "device": device_label(bench.device),
        "artifacts": artifacts,
    })  # fmt: skip


if __name__ == "__main__":
    main()
