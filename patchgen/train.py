"""The training loop: expectation over transformation against a frozen victim, readable top to bottom."""

import math
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import torch
from tqdm import tqdm

from patchgen import eot, registry, run_dir as run_files
from patchgen.distributed import World, rank_seed, world as this_world
from patchgen.checkpoint import load_checkpoint, save_checkpoint
from patchgen.config import ADVERSARIAL, RunConfig, check_batch_split, placement_kind
from patchgen.errors import UserError, require_file
from patchgen.placements import placement_for
from patchgen.run_lock import run_lock
from patchgen.victim_names import family_of
from patchgen.victims import load_victim


def resolve_device(name: str, key: str = "train.device") -> torch.device:
    """key: how the user chose it, so the message names that: a config key, or a flag (`--device`)."""
    setting = f"{key} cpu" if key.startswith("--") else f"--set {key}=cpu (or `device: cpu` under train:)"
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"{key} {name!r} asks for a CUDA GPU, but torch sees none on this machine: use {setting}, "
                        f"or auto")
    try:
        return torch.device(name)
    except RuntimeError:
        raise UserError(f"{key} {name!r} is not a device: use auto, cpu, cuda or cuda:N") from None


def cosine_lr(step: int, steps: int, lr: float, final: float) -> float:
    return lr * (final + (1 - final) * 0.5 * (1 + math.cos(math.pi * step / max(1, steps))))


def load_colour_model_for(config: RunConfig, device):
    if not config.colour_model:
        return None
    from printing.colour_model import load_colour_model

    return load_colour_model(require_file(config.colour_model, "colour model")).to(device)


def compiled(victim, cuda: bool):
    """torch.compile'd victim: on CUDA with CUDA graphs (mode reduce-overhead: a run's shapes never change), and
    where compiling fails (no compiler, an op it cannot trace) the victim runs eagerly instead of the run failing."""
    import torch._dynamo

    torch._dynamo.config.suppress_errors = True  # fall back to eager, with a warning, on a compile error
    return torch.compile(victim, mode="reduce-overhead" if cuda else "default", dynamic=False)


class Setup:
    """Everything a step needs, built once from the config (also used by benchmarks and evaluation): the victim,
    its family's data, and the plug-ins the config names (goal, placement, artifact, loss terms).
    victim: an already-built victim (the Python API's own nn.Module, wrapped), instead of config.victim.
    rank, ranks: this process's share of data-parallel training (distributed.py): its shard of the images, its
    generator and its part of the global batch; device: where it runs (default: the config's train.device)."""

    def __init__(self, config: RunConfig, quiet: bool = False, victim=None, rank: int = 0, ranks: int = 1,
                 device: torch.device | None = None):
        self.config = config
        check_batch_split(config, ranks)
        self.local_batch = config.train.batch // ranks
        self.device = device or resolve_device(config.train.device)
        family = victim.family if victim is not None else family_of(config.victim)
        registry.get("family", family).check_folder(config.data.train)  # its layout, before seconds of model loading
        self.victim = load_victim(victim if victim is not None else config.victim, self.device, config.imgsz or None)
        self.imgsz = self.victim.imgsz
        goal_plugin = registry.entry("goal", config.goal, "goal")
        if goal_plugin.family != self.victim.family:  # the config check knows names; a Python-API victim only here
            raise UserError(f"goal {config.goal!r} is a {goal_plugin.family} goal, but the victim is a "
                            f"{self.victim.family}")
        self.goal = registry.get("goal", config.goal)(self.victim, config)
        self.family = registry.get("family", self.victim.family)
        scenes, self.data_report = self.family.load_data(config, config.data.train, self.victim, goal_plugin,
                                                         quiet=quiet)
        self.scenes = scenes.to(self.device)
        self.generator = torch.Generator(self.device).manual_seed(config.train.seed)
        self.artifact = registry.get("artifact", config.artifact.kind).from_config(config.artifact, self.generator)
        self.artifact = self.artifact.to(self.device)
        if rank:  # the same initial artifact on every rank, then each its own draws
            self.generator.manual_seed(rank_seed(config.train.seed, rank))
        self.shard = torch.arange(rank, len(self.scenes), ranks, device=self.device)
        if not len(self.shard):
            raise UserError(f"{len(self.scenes)} training images cannot be shared by {ranks} processes")
        self.placement_kind = placement_kind(config)
        self.placement = placement_for(config, self.artifact)
        # one window size for the whole run, so the step never asks the device for box sizes
        self.window = self.placement.window(self.scenes)
        self.slots = self.placement.slots(self.scenes)
        self.weights = dict(config.loss.weights)
        self.terms = {name: registry.get("loss term", name)(config, self.device)
                      for name, weight in self.weights.items() if name != ADVERSARIAL and weight}
        self.colour_model = load_colour_model_for(config, self.device)
        cuda = self.device.type == "cuda"
        # NHWC: the layout cuDNN's convolutions run fastest in under bf16
        self.memory_format = torch.channels_last if cuda else torch.contiguous_format
        self.victim.to(memory_format=self.memory_format)
        self.model = compiled(self.victim, cuda) if config.train.compile else self.victim
        use_amp = config.train.amp and cuda
        self.autocast = torch.autocast("cuda", dtype=torch.bfloat16) if use_amp else nullcontext()

    def step_loss(self, batch_index: torch.Tensor, params: eot.Params):
        """The loss for one batch and one draw of EOT params: (total, {term: value}) with the goal's own
        term under 'adversarial', each before its weight."""
        scenes = self.scenes.batch(batch_index)
        placed = self.placement.place(scenes, params)
        with self.autocast:
            image, mask = self.artifact.appearance(params)
            rendered = eot.render(image, mask, scenes.images, placed, params, self.colour_model, self.window)
            rendered = rendered.contiguous(memory_format=self.memory_format)
            adversarial = self.goal.loss(self.model(rendered), scenes, placed).float().mean()
        printable = self.artifact() if self.terms else None  # what the terms judge: the patch, tile or pieces
        parts = {ADVERSARIAL: adversarial, **{name: term(printable) for name, term in self.terms.items()}}
        total = sum(self.weights.get(name, 0.0) * value for name, value in parts.items())
        return total, parts

    def draw(self):
        """Batch indices (from this rank's shard) and EOT params for one step, from its one generator
        (replayable)."""
        cfg = self.config
        pick = torch.randint(len(self.shard), (self.local_batch,), generator=self.generator, device=self.device)
        index = self.shard[pick]
        params = eot.sample(self.local_batch * self.slots, self.generator, cfg.eot, self.artifact.mask.shape[-1],
                            self.artifact.tiled)
        return index, params


def train(config: RunConfig, run_dir, resume: bool = False, progress: bool = True, stop_after: int | None = None,
          origin: str = "train", victim=None):
    """Train and write the run directory; returns its path. stop_after (tests) ends early, as a kill would.
    origin: the command that starts the run, kept in its record (`patchgen demo` resumes only its own runs).
    victim: a victim object from the Python API instead of config.victim (see load_config).
    Under torchrun every rank trains and rank 0 alone writes (distributed.py)."""
    run_dir = Path(run_dir)
    world = this_world()
    with run_lock(run_dir) if world.main else nullcontext():
        setup, optimizer, start = begin(config, run_dir, resume, origin, victim, world)
        done = run_steps(setup, optimizer, run_dir, start, progress and world.main, stop_after, world)
        if done == config.train.steps and world.main:
            finish(run_dir, setup, done)
        world.barrier()  # no rank leaves (and, under `patchgen train`, evaluates) before the run is written
    return run_dir


def begin(config: RunConfig, run_dir: Path, resume: bool, origin: str, victim=None, world: World = World()):
    """The folder is checked against --resume (and the config against the run's) before anything is computed;
    the record is written only once the checkpoint has loaded, so a refused or broken resume changes nothing.
    Every rank reads the folder before rank 0 writes to it (main_first ends in a barrier)."""
    holds_run = run_files.holds_run(run_dir)
    if not resume and holds_run:
        raise UserError(f"{run_dir} already holds a run: pass --resume to continue it, or choose another --out")
    if resume and not holds_run:
        raise UserError(f"nothing to resume in {run_dir} (no {run_files.CHECKPOINT})")
    changes = run_files.resume_changes(run_dir, config) if resume else {}
    with world.main_first():  # rank 0 loads (and caches pseudo-labels) first
        setup = Setup(config, victim=victim, rank=world.rank, ranks=world.size,
                      device=world.place(resolve_device(config.train.device)))
    optimizer = torch.optim.Adam(setup.artifact.parameters(), lr=config.train.lr)
    start = load_checkpoint(run_dir, setup.artifact, optimizer, setup.generator, world.rank, world.size) \
        if resume else 0
    world.barrier()  # every rank has read the checkpoint before rank 0 writes anything
    if world.main:
        if resume:
            run_files.record_resume(run_dir, start, changes, setup.device)
        else:
            run_files.start_record(run_dir, config, origin, setup.device)
        run_files.keep_metrics_until(run_dir, start)
    return setup, optimizer, start


def run_steps(setup: Setup, optimizer, run_dir: Path, start: int, progress: bool, stop_after: int | None,
              world: World = World()) -> int:
    """Steps start..train.steps (or stop_after); returns the number done. Stops with a UserError at the first
    log or checkpoint step whose loss or artifact is not finite, so the checkpoint on disk stays a finite one.
    Logged losses are the mean over ranks; every rank takes each decision (stop, log, save) together."""
    cfg = setup.config.train
    saved = start  # the step the checkpoint on disk holds (0: none)
    started = time.time()
    with tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, desc="train", disable=not progress,
              dynamic_ncols=True, file=sys.stderr) as bar:
        for step in bar:
            for group in optimizer.param_groups:
                group["lr"] = cosine_lr(step, cfg.steps, cfg.lr, cfg.lr_final)
            setup.artifact.at_step(step / cfg.steps)
            index, params = setup.draw()
            total, parts = setup.step_loss(index, params)
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            world.average_gradients(setup.artifact.parameters())
            optimizer.step()

            done = step + 1
            log_now = done % cfg.log_every == 0 or done == cfg.steps
            save_now = done % cfg.checkpoint_every == 0 or done == cfg.steps
            if not (log_now or save_now):
                continue
            # the only host syncs: at log and checkpoint intervals
            parameters = torch.stack([torch.isfinite(p).all() for p in setup.artifact.parameters()])
            finite = world.all(torch.isfinite(total) & parameters.all())
            if not bool(finite.item()):
                kept = (f"kept {run_dir / run_files.CHECKPOINT} from step {saved}" if saved
                        else "no checkpoint was due before it")
                raise UserError(f"training stopped at step {done}: the loss or the artifact is no longer finite "
                                f"(nan or inf: look at the victim and colour model files); {kept}")
            if log_now:
                values = world.mean(torch.stack([total.detach(), *(v.detach() for v in parts.values())]))
                values = values.tolist()
                row = {"step": done, "loss": values[0], **dict(zip(parts, values[1:])),
                       "lr": optimizer.param_groups[0]["lr"], "seconds": round(time.time() - started, 2)}
                if world.main:
                    run_files.append_metrics(run_dir, row)
                bar.set_postfix(loss=f"{row['loss']:.4f}", adv=f"{row['adversarial']:.3f}")
            if save_now:
                generators = world.gather(setup.generator.get_state())
                if world.main:
                    save_checkpoint(run_dir, done, setup.artifact, optimizer, generators)
                saved = done
            if stop_after is not None and done >= stop_after:
                return done
    return cfg.steps


def finish(run_dir: Path, setup: Setup, steps: int) -> None:
    from patchgen.plots import plot_loss_curve
    from patchgen.previews import save_renders

    metrics = run_files.read_metrics(run_dir)
    report = setup.data_report
    sidecar = run_files.artifact_sidecar(setup.config, setup.victim, steps, metrics[-1] if metrics else {},
                                         {"folder": setup.config.data.train, **report.to_dict()}, setup.placement_kind,
                                         setup.artifact.sidecar())
    run_files.save_artifact(run_dir, setup.artifact, sidecar)
    if metrics:
        plot_loss_curve(metrics, run_dir / run_files.LOSS_PLOT)
    save_renders(setup, run_dir / run_files.RENDERS_PNG)
    skipped = report.to_dict()["skipped"]  # a count in both families' reports (a detector's also keeps the names)
    skipped = f", {skipped} unreadable images skipped" if skipped else ""
    print(f"run: {run_dir}: {steps} steps, final adversarial loss "
          f"{sidecar['metrics'].get('adversarial', float('nan')):.4f}{skipped}", file=sys.stderr)
