"""The training loop: expectation over transformation against a frozen victim, readable top to bottom."""

import sys
import time
from contextlib import nullcontext
from pathlib import Path

import torch
from tqdm import tqdm

from patchgen import eot, registry, run_dir as run_files
from patchgen.distributed import World, rank_seed, world as this_world
from patchgen.checkpoint import load_checkpoint, save_checkpoint
from patchgen.config import (ADVERSARIAL, RunConfig, check_batch_split, placement_kind, query_access,
                             victim_family)
from patchgen.device import resolve_device
from patchgen.header import describe_goal, print_header
from patchgen.objective import Objective
from patchgen.queries import Account, BudgetSpent
from patchgen.errors import UserError, require_file
from patchgen.placements import placement_for
from patchgen.run_lock import run_lock
from patchgen.victims import load_victim


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
        self.device = device or resolve_device(config.train.device, "train.device")
        family = victim.family if victim is not None else victim_family(config)
        registry.get("family", family).check_folder(config.data.train)  # its layout, before seconds of model loading
        self.victim = load_victim(victim if victim is not None else config.victim, self.device, config.imgsz or None,
                                  config.adapter)
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

    def render(self, images: torch.Tensor, placed, params: eot.Params, look=None) -> torch.Tensor:
        """The images with the artifact pasted in as these params place and transform it (under autocast).
        look: (image, mask) per instance instead of the artifact's own appearance (candidates scored at once)."""
        with self.autocast:
            image, mask = look if look is not None else self.artifact.appearance(params)
            rendered = eot.render(image, mask, images, placed, params, self.colour_model, self.window)
        return rendered.contiguous(memory_format=self.memory_format)

    def term_values(self) -> dict:
        """Each loss term (tv, nps, style) on what it judges: the patch, tile or pieces, before its weight."""
        printable = self.artifact() if self.terms else None
        return {name: term(printable) for name, term in self.terms.items()}

    def terms_total(self) -> torch.Tensor:
        return sum((self.weights[name] * value for name, value in self.term_values().items()),
                   torch.zeros((), device=self.device))

    def step_loss(self, batch_index: torch.Tensor, params: eot.Params):
        """The loss for one batch and one draw of EOT params: (total, {term: value}) with the goal's own
        term under 'adversarial', each before its weight."""
        scenes = self.scenes.batch(batch_index)
        placed = self.placement.place(scenes, params)
        rendered = self.render(scenes.images, placed, params)
        with self.autocast:
            adversarial = self.goal.loss(self.model(rendered), scenes, placed).float().mean()
        parts = {ADVERSARIAL: adversarial, **self.term_values()}
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
        setup, optimizer, objective, start = begin(config, run_dir, resume, origin, victim, world,
                                                   announce=progress and world.main)
        done = run_steps(setup, optimizer, objective, run_dir, start, progress and world.main, stop_after, world)
        if done is not None and world.main:
            finish(run_dir, setup, done, objective.account)
        world.barrier()  # no rank leaves (and, under `patchgen train`, evaluates) before the run is written
    return run_dir


def begin(config: RunConfig, run_dir: Path, resume: bool, origin: str, victim=None, world: World = World(),
          announce: bool = False):
    """The folder is checked against --resume (and the config against the run's) before anything is computed;
    the record is written only once the checkpoint has loaded, so a refused or broken resume changes nothing.
    Every rank reads the folder before rank 0 writes to it (main_first ends in a barrier). announce: print the
    header (versions, device, what is trained) once the folder and config are accepted."""
    holds_run = run_files.holds_run(run_dir)
    if not resume and holds_run:
        raise UserError(f"{run_dir} already holds a run: continue it with `patchgen train --resume {run_dir}`, or "
                        f"choose another --out")
    if resume and not holds_run:
        raise UserError(f"nothing to resume in {run_dir} (no {run_files.CHECKPOINT})")
    changes = run_files.resume_changes(run_dir, config) if resume else {}
    if not resume and (run_dir / run_files.QUERY_LOG).exists():
        # a query run killed before its first checkpoint: started again with the same config, its replay reads
        # the answers it paid for; another config's answers are not this run's
        try:
            run_files.resume_changes(run_dir, config)
        except UserError:
            raise UserError(f"{run_dir} holds the {run_files.QUERY_LOG} of another run (with another config, stopped "
                            f"before its first checkpoint): choose another --out") from None
    device = world.place(resolve_device(config.train.device, "train.device"))
    with world.main_first():  # rank 0 loads (and caches pseudo-labels) first
        setup = Setup(config, victim=victim, rank=world.rank, ranks=world.size, device=device)
    account = None
    if query_access(config) or not setup.victim.differentiable:  # a Python-API victim may answer queries only
        run_dir.mkdir(parents=True, exist_ok=True)
        account = Account(setup.victim, config.query.budget, config.query.batch,
                          run_dir / run_files.query_log(world.rank))
    kind = config.optimizer.kind
    if account is not None and registry.PLUGINS["optimizer"][kind].gradients:  # the config check knows names only
        raise UserError(f"optimizer {kind!r} needs gradients, but {setup.victim.name} answers queries only: use "
                        f"random_search, nes or differential_evolution")
    objective = Objective(setup, world, account)
    optimizer = registry.get("optimizer", kind)(getattr(config.optimizer, kind), objective, config.train.seed)
    if announce:  # once the victim, the data and the optimiser are in hand: a mistake in them stays one line
        print_header(origin, device, **run_fields(config, victim), out=run_dir)
    start = load_checkpoint(run_dir, setup.artifact, optimizer, setup.generator, world.rank, world.size, account) \
        if resume else 0
    world.barrier()  # every rank has read the checkpoint before rank 0 writes anything
    if world.main:
        if resume:
            run_files.record_resume(run_dir, start, changes, setup.device)
        else:
            run_files.start_record(run_dir, config, origin, setup.device)
        run_files.keep_metrics_until(run_dir, start)
    return setup, optimizer, objective, start


def run_fields(config: RunConfig, victim=None) -> dict:
    """What a training header shows of its config (print_header's fields)."""
    kind, art = config.optimizer.kind, config.artifact
    settings = ", ".join(f"{k} {v}" for k, v in vars(getattr(config.optimizer, kind)).items())
    return {"victim": f"{type(victim).__name__} (from Python)" if victim is not None else config.victim,
            "input_size": config.imgsz or "the victim's own", "artifact": f"{art.kind}, {art.size} px, {art.shape}",
            "goal": describe_goal(config),
            "optimizer": f"{kind} ({settings}), {config.train.steps} steps, batch {config.train.batch}",
            "data": config.data.train}


def run_steps(setup: Setup, optimizer, objective: Objective, run_dir: Path, start: int, progress: bool,
              stop_after: int | None, world: World = World()) -> int | None:
    """Steps start..train.steps; returns the number done, or None when stop_after ended it early (as a kill
    would: no artifact is written). A query run whose budget cannot pay for what comes next ends at its last
    finished step, as if train.steps were that, and so does a run told to stop at its first success. Stops with a
    UserError at the first log or checkpoint step whose loss or artifact is not finite, so the checkpoint on disk
    stays a finite one. Logged losses are the mean over ranks; every rank takes each decision (stop, log, save)
    together."""
    cfg = setup.config.train
    account = objective.account
    saved = done = logged = start  # the steps the checkpoint holds (0: none), last finished, last logged
    total = parts = None
    started = time.time()
    lines = StepLines(cfg.steps) if progress else None
    with tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, desc="train", disable=not progress,
              dynamic_ncols=True, file=sys.stderr) as bar:
        try:
            for step in bar:
                setup.artifact.at_step(step / cfg.steps)
                total, parts = optimizer.step(objective, step, cfg.steps)
                done = step + 1
                # a per-image attack ends at its first success, logged and saved as a last step is
                fooled = cfg.stop_on_success and done < cfg.steps and objective.fooled()
                log_now = fooled or done % cfg.log_every == 0 or done == cfg.steps
                save_now = fooled or done % cfg.checkpoint_every == 0 or done == cfg.steps
                if account is not None:
                    bar.set_postfix_str(f"queries {account.spent}/{account.budget}", refresh=False)
                if not (log_now or save_now):
                    continue
                check_finite(setup, total, done, saved, run_dir, world)
                if log_now:
                    row = metrics_row(done, total, parts, optimizer, objective, started, world)
                    if world.main:
                        run_files.append_metrics(run_dir, row)
                    if lines:
                        lines.show(row)
                    logged = done
                    bar.set_postfix_str(f"loss {row['loss']:.4f} adv {row[ADVERSARIAL]:.3f}"
                                        + (f" queries {account.spent}/{account.budget}" if account else ""))
                if save_now:
                    save(run_dir, done, setup, optimizer, world, account)
                    saved = done
                if fooled:
                    if world.main:
                        print(f"\nthe goal succeeds on every training image after {done} steps", file=sys.stderr)
                    return done
                if stop_after is not None and stop_after <= done < cfg.steps:
                    return None
        except BudgetSpent as spent:
            if not done:
                raise UserError(f"query.budget {account.budget} cannot pay for the first step ({spent}): raise it, "
                                f"or lower train.batch or the optimiser's population") from None
            if done > logged and parts is not None:  # the last step's row, without a success check to pay for
                row = metrics_row(done, total, parts, optimizer, objective, started, world, measure=False)
                if world.main:
                    run_files.append_metrics(run_dir, row)
                if lines:
                    lines.show(row)
            if done > saved:
                save(run_dir, done, setup, optimizer, world, account)
            if world.main:
                print(f"\nquery budget spent: {account.spent} of {account.budget} queries after {done} of "
                      f"{cfg.steps} steps (raise query.budget and --resume to go on)", file=sys.stderr)
            return done
    return cfg.steps


class StepLines:
    """One line per logged step, kept above the progress bar (as Ultralytics keeps one row per epoch): the step,
    each column of the metrics row (losses before their weights, lr or the optimiser's own, success and queries
    for a query run) and the time since the start; the column names once, over the first."""

    def __init__(self, steps: int):
        self.steps, self.columns = steps, None
        self.step_width = max(len("step"), len(f"{steps}/{steps}"))

    def show(self, row: dict) -> None:
        if self.columns is None:
            self.columns = [k for k in row if k not in ("step", "seconds")]
            names = ["step".rjust(self.step_width), *(k.rjust(max(9, len(k))) for k in self.columns), "elapsed"]
            tqdm.write("  ".join(names), file=sys.stderr)
        cells = [f"{row['step']}/{self.steps}".rjust(self.step_width),
                 *(cell(row.get(k)).rjust(max(9, len(k))) for k in self.columns), f"{row['seconds']:.1f}s".rjust(7)]
        tqdm.write("  ".join(cells), file=sys.stderr)


def cell(value) -> str:
    """A float to four significant digits, a count whole, a value this row lacks as a dash."""
    if value is None:
        return "–"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def check_finite(setup: Setup, total, done: int, saved: int, run_dir: Path, world: World) -> None:
    """The only host syncs: at log and checkpoint intervals."""
    parameters = torch.stack([torch.isfinite(p).all() for p in setup.artifact.parameters()])
    finite = world.all(torch.isfinite(torch.as_tensor(total)) & parameters.all())
    if not bool(finite.item()):
        kept = (f"kept {run_dir / run_files.CHECKPOINT} from step {saved}" if saved
                else "no checkpoint was due before it")
        raise UserError(f"training stopped at step {done}: the loss or the artifact is no longer finite (nan or inf: "
                        f"look at the victim and colour model files); {kept}")


def metrics_row(done: int, total, parts: dict, optimizer, objective: Objective, started: float, world: World,
                measure: bool = True) -> dict:
    """One metrics.jsonl row: losses as the mean over ranks, the optimiser's own columns, and for a query run the
    goal's success on the step's batch (unless not `measure`d) and the queries spent (after that check: what it
    cost is counted too)."""
    values = world.mean(torch.stack([torch.as_tensor(total).detach().float(),
                                     *(torch.as_tensor(v).detach().float() for v in parts.values())])).tolist()
    row = {"step": done, "loss": values[0], **dict(zip(parts, values[1:])), **optimizer.log(),
           "seconds": round(time.time() - started, 2)}
    if objective.account is not None:
        if measure:
            row["success"] = objective.success()
        row["queries"] = objective.account.spent
    return row


def save(run_dir: Path, done: int, setup: Setup, optimizer, world: World, account: Account | None) -> None:
    generators = world.gather(setup.generator.get_state())
    queries = world.gather(torch.tensor(account.spent)) if account is not None else []
    if world.main:
        save_checkpoint(run_dir, done, setup.artifact, optimizer, generators, queries)


def finish(run_dir: Path, setup: Setup, steps: int, account: Account | None = None) -> None:
    from patchgen.plots import plot_loss_curve
    from patchgen.previews import save_renders

    metrics = run_files.read_metrics(run_dir)
    report = setup.data_report
    sidecar = run_files.artifact_sidecar(setup.config, setup.victim, steps, metrics[-1] if metrics else {},
                                         {"folder": setup.config.data.train, **report.to_dict()}, setup.placement_kind,
                                         setup.artifact.sidecar())
    if account is not None:
        sidecar["queries"] = {"spent": account.spent, "budget": account.budget, "failures": account.failures}
    run_files.save_artifact(run_dir, setup.artifact, sidecar)
    if metrics:
        plot_loss_curve(metrics, run_dir / run_files.LOSS_PLOT)
    save_renders(setup, run_dir / run_files.RENDERS_PNG)
    skipped = report.to_dict()["skipped"]  # a count in both families' reports (a detector's also keeps the names)
    skipped = f", {skipped} unreadable images skipped" if skipped else ""
    queries = f", {account.spent} queries{failed_tries(account.failures)}" if account is not None else ""
    print(f"run: {run_dir}: {steps} steps, final adversarial loss "
          f"{sidecar['metrics'].get('adversarial', float('nan')):.4f}{queries}{skipped}", file=sys.stderr)


def failed_tries(failures: dict) -> str:
    """', 4 failed tries retried (timeout 1, server_error 1, ...)' for the finish line; nothing when none failed."""
    if not any(failures.values()):
        return ""
    kinds = ", ".join(f"{kind} {count}" for kind, count in failures.items() if count)
    return f", {sum(failures.values())} failed tries retried ({kinds})"
