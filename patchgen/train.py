"""The training loop: expectation over transformation against a frozen victim, readable top to bottom."""

import json
import math
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import torch
from tqdm import tqdm

from patchgen import eot
from patchgen.artifacts import Patch, total_variation
from patchgen.atomic import atomic_write_text
from patchgen.checkpoint import CHECKPOINT, load_checkpoint, save_checkpoint
from patchgen.config import RunConfig, to_dict
from patchgen.data import crop_around_targets, load_scenes
from patchgen.errors import UserError, require_file
from patchgen.objectives import vanish, vanish_each_target
from patchgen.run_lock import run_lock
from patchgen.run_record import record_resume, resume_changes, start_record
from patchgen.victims import load_victim
from printing.palette import load_palette, non_printability_score


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {name!r} asked for, but this machine has no CUDA GPU (use device: cpu)")
    try:
        return torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {name!r} (auto, cpu, cuda, cuda:N)") from None


def cosine_lr(step: int, steps: int, lr: float, final: float) -> float:
    return lr * (final + (1 - final) * 0.5 * (1 + math.cos(math.pi * step / max(1, steps))))


def load_colour_model_for(config: RunConfig, device):
    if not config.colour_model:
        return None
    from printing.colour_model import load_colour_model

    return load_colour_model(require_file(config.colour_model, "colour model")).to(device)


class Setup:
    """Everything a step needs, built once from the config (also used by benchmarks and evaluation)."""

    def __init__(self, config: RunConfig, quiet: bool = False):
        self.config = config
        self.device = resolve_device(config.train.device)
        self.victim = load_victim(config.victim, self.device, config.imgsz or None)
        self.imgsz = config.imgsz or self.victim.imgsz
        self.class_ids = [self.victim.class_id(c) for c in config.target_classes]
        self.class_index = torch.tensor(self.class_ids, device=self.device)
        scenes, self.data_report = load_scenes(
            config.data.train, self.imgsz, self.class_ids, victim=self.victim, labels=config.data.labels,
            max_targets=config.data.max_targets, min_box_frac=config.data.min_box_frac,
            conf=config.data.pseudo_conf, quiet=quiet)
        with_targets = scenes.mask.any(1)
        if not with_targets.any():
            raise UserError(f"no {'/'.join(config.target_classes)} targets in {config.data.train}: nothing to attack")
        scenes = scenes.subset(with_targets.nonzero().squeeze(1))
        if config.data.crop:
            scenes = crop_around_targets(scenes, config.data.crop, config.placement.anchor_y)
        self.scenes = scenes.to(self.device)
        # one window size for the whole run, so the step never asks the device for box sizes
        self.window = eot.window_size(self.scenes.max_diagonal(), config.placement.scale, config.eot)
        self.generator = torch.Generator(self.device).manual_seed(config.train.seed)
        art = config.artifact
        if art.kind != "patch":
            raise UserError(f"artifact kind {art.kind!r} is not available yet (patch)")
        self.artifact = Patch(art.size, art.shape, art.init, self.generator).to(self.device)
        self.palette = load_palette(config.loss.palette or None).to(self.device)
        self.colour_model = load_colour_model_for(config, self.device)
        self.model = torch.compile(self.victim) if config.train.compile else self.victim
        use_amp = config.train.amp and self.device.type == "cuda"
        self.autocast = torch.autocast("cuda", dtype=torch.bfloat16) if use_amp else nullcontext()

    def step_loss(self, batch_index: torch.Tensor, params: eot.Params):
        """The objective for one batch and one draw of EOT params: (total, adversarial, tv, nps) tensors."""
        cfg = self.config
        scenes = self.scenes.batch(batch_index)
        image = self.artifact()
        with self.autocast:
            rendered = eot.render(image, self.artifact.mask, scenes, params, cfg.placement.scale,
                                  cfg.placement.anchor_y, self.colour_model, self.window)
            out = self.model(rendered)
            if cfg.loss.vanish_scope == "target":
                adversarial = vanish_each_target(out, self.class_index, scenes.boxes, scenes.mask)
            else:
                adversarial = vanish(out, self.class_index)
            adversarial = adversarial.float().mean()
        tv = total_variation(image)
        nps = non_printability_score(image, self.palette)
        total = adversarial + cfg.loss.tv * tv + cfg.loss.nps * nps
        return total, adversarial, tv, nps

    def draw(self):
        """Batch indices and EOT params for one step, from the run's one generator (replayable)."""
        cfg = self.config
        index = torch.randint(len(self.scenes), (cfg.train.batch,), generator=self.generator, device=self.device)
        params = eot.sample(cfg.train.batch * self.scenes.mask.shape[1], self.generator, cfg.eot, cfg.artifact.size)
        return index, params


def train(config: RunConfig, run_dir, resume: bool = False, progress: bool = True, stop_after: int | None = None,
          origin: str = "train"):
    """Train and write the run directory; returns its path. stop_after (tests) ends early, as a kill would.
    origin: the command that starts the run, kept in its record (`patchgen demo` resumes only its own runs)."""
    run_dir = Path(run_dir)
    with run_lock(run_dir):
        setup, optimizer, start = begin(config, run_dir, resume, origin)
        done = run_steps(setup, optimizer, run_dir, start, progress, stop_after)
        if done == config.train.steps:
            finish(run_dir, setup, done)
    return run_dir


def begin(config: RunConfig, run_dir: Path, resume: bool, origin: str):
    """The folder is checked against --resume (and the config against the run's) before anything is computed;
    the record is written only once the checkpoint has loaded, so a refused or broken resume changes nothing."""
    holds_run = (run_dir / CHECKPOINT).exists()
    if not resume and holds_run:
        raise UserError(f"{run_dir} already holds a run: pass --resume to continue it, or choose another --out")
    if resume and not holds_run:
        raise UserError(f"nothing to resume in {run_dir} (no {CHECKPOINT})")
    changes = resume_changes(run_dir, config) if resume else {}
    setup = Setup(config)
    optimizer = torch.optim.Adam([setup.artifact.logits], lr=config.train.lr)
    if resume:
        start = load_checkpoint(run_dir, setup.artifact, optimizer, setup.generator)
        record_resume(run_dir, start, changes)
    else:
        start = 0
        start_record(run_dir, config, origin)
    keep_metrics_until(run_dir / "metrics.jsonl", start)
    return setup, optimizer, start


def run_steps(setup: Setup, optimizer, run_dir: Path, start: int, progress: bool, stop_after: int | None) -> int:
    """Steps start..train.steps (or stop_after); returns the number done. Stops with a UserError at the first
    log or checkpoint step whose loss or artifact is not finite, so the checkpoint on disk stays a finite one."""
    cfg = setup.config.train
    metrics_path = run_dir / "metrics.jsonl"
    saved = start  # the step the checkpoint on disk holds (0: none)
    started = time.time()
    with tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, desc="train", disable=not progress,
              dynamic_ncols=True, file=sys.stderr) as bar:
        for step in bar:
            for group in optimizer.param_groups:
                group["lr"] = cosine_lr(step, cfg.steps, cfg.lr, cfg.lr_final)
            index, params = setup.draw()
            total, adversarial, tv, nps = setup.step_loss(index, params)
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()

            done = step + 1
            log_now = done % cfg.log_every == 0 or done == cfg.steps
            save_now = done % cfg.checkpoint_every == 0 or done == cfg.steps
            if not (log_now or save_now):
                continue
            # the only host syncs: at log and checkpoint intervals
            if not bool((torch.isfinite(total) & torch.isfinite(setup.artifact.logits).all()).item()):
                kept = f"kept {run_dir / CHECKPOINT} from step {saved}" if saved else "no checkpoint was due before it"
                raise UserError(f"training stopped at step {done}: the loss or the artifact is no longer finite "
                                f"(nan or inf: look at the victim and colour model files); {kept}")
            if log_now:
                row = {"step": done, "loss": total.item(), "adversarial": adversarial.item(), "tv": tv.item(),
                       "nps": nps.item(), "lr": optimizer.param_groups[0]["lr"],
                       "seconds": round(time.time() - started, 2)}
                with open(metrics_path, "a") as handle:
                    handle.write(json.dumps(row) + "\n")
                bar.set_postfix(loss=f"{row['loss']:.4f}", adv=f"{row['adversarial']:.3f}")
            if save_now:
                save_checkpoint(run_dir, done, setup.artifact, optimizer, setup.generator)
                saved = done
            if stop_after is not None and done >= stop_after:
                return done
    return cfg.steps


def keep_metrics_until(path: Path, step: int) -> None:
    """A killed run may have logged past its last checkpoint: drop those rows so the log reads as one run."""
    if not path.exists():
        return
    rows = [line for line in path.read_text().splitlines() if line.strip()]
    kept = [line for line in rows if json.loads(line)["step"] <= step]
    atomic_write_text(path, "".join(line + "\n" for line in kept))


def read_metrics(run_dir) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def finish(run_dir: Path, setup: Setup, steps: int) -> None:
    from patchgen.plots import plot_loss_curve

    metrics = read_metrics(run_dir)
    report = setup.data_report
    sidecar = {
        "victim": setup.config.victim, "target_classes": setup.config.target_classes,
        "class_ids": setup.class_ids, "objective": setup.config.objective, "imgsz": setup.imgsz, "step": steps,
        "metrics": metrics[-1] if metrics else {},
        "placement": {"anchor": "torso", "scale_of_box_diagonal": setup.config.placement.scale,
                      "anchor_y": setup.config.placement.anchor_y},
        "data": {"folder": setup.config.data.train, **report.to_dict()},
        "physical_size_mm": None, "config": to_dict(setup.config),
    }  # fmt: skip
    setup.artifact.save(run_dir, sidecar)
    if metrics:
        plot_loss_curve(metrics, run_dir / "loss.png")
    skipped = f", {len(report.skipped)} unreadable images skipped" if report.skipped else ""
    print(f"run: {run_dir}: {steps} steps, final adversarial loss "
          f"{sidecar['metrics'].get('adversarial', float('nan')):.4f}{skipped}", file=sys.stderr)
