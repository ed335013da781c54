"""`patchgen train | eval | demo | configs`: argument parsing only; the work lives in api.py, training.py,
run_evaluation.py, demo.py and config.py."""

from pathlib import Path

SET_HELP = "override a config key, e.g. --set train.steps=200 --set data.train=photos (repeatable; YAML values)"
DEVICE_HELP = "where the model runs: auto (a GPU where there is one), cpu, cuda or cuda:N"
QUIET_HELP = "no progress bar"


def add_commands(sub) -> None:
    p = sub.add_parser("train", help="train an artifact with EOT against a victim",
                       description="Train an artifact from a config: a shipped one by name (`patchgen configs` "
                                   "lists them; add --set data.train=FOLDER) or a YAML file. Continue a stopped run "
                                   "with --resume RUN: its own config is used.")
    p.add_argument("config", nargs="?",
                   help="a shipped config's name (e.g. person-patch, toaster) or a YAML file; optional with --resume")
    p.add_argument("--out", help="run directory (default: runs/<config name>)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=SET_HELP)
    p.add_argument("--resume", nargs="?", const=True, metavar="RUN",
                   help="continue RUN (or the --out run) from its last checkpoint, with the config it was trained "
                        "with; --set may raise train.steps and query.budget and change train.log_every and "
                        "train.checkpoint_every")
    p.add_argument("--device", help=f"{DEVICE_HELP}; sets train.device (default: the config's, auto)")
    p.add_argument("--no-eval", action="store_true", help="skip the digital evaluation after training")
    p.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="digital evaluation of a run (or of any image, --artifact): CLEAN / NOISE / ADV")
    p.add_argument("run", nargs="?", help="run directory (optional with --artifact and --victim)")
    p.add_argument("--artifact", metavar="IMAGE", help="evaluate this image (a peer's published patch, a PNG from "
                   "another tool; its alpha is the shape) instead of the run's artifact")
    p.add_argument("--victim", help="with --artifact and no run: the model to evaluate it against")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="with --artifact and no run: config keys for the goal and placement (goal=appear, "
                        "goal_class=..., target_classes=[person], placement.scale=0.2, placement.area=0.1, ...)")
    p.add_argument("--data", help="image folder (default: the config's data.val, else data.train)")
    p.add_argument("--labels", choices=["auto", "files", "pseudo"],
                   help="where the boxes come from: files (YOLO labels), pseudo (the clean victim's detections) or "
                        "auto (files where present; default: the run's data.labels)")
    p.add_argument("--out", help="output folder, new or empty (default: a new one in the run each time: RUN/eval, "
                                 "RUN/eval-2, ...)")
    p.add_argument("--batch", type=int, default=8, help="images per victim call (default 8)")
    p.add_argument("--device", default="auto", help=f"{DEVICE_HELP} (default auto)")
    p.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("demo", help="train, evaluate and export a small face-hiding patch on embedded images")
    p.add_argument("--out", default="runs/demo", help="run directory (default: runs/demo)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=SET_HELP)
    p.add_argument("--device", default="auto", help=f"{DEVICE_HELP} (default auto)")
    p.add_argument("--quiet", action="store_true", help=QUIET_HELP)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("configs", help="list the shipped configs `patchgen train NAME` runs, or print one",
                       description="The starter configs that come with patchgen, each complete but for its data "
                                   "(--set data.train=FOLDER). With a name, its YAML: copy it to edit it "
                                   "(patchgen configs toaster > mine.yaml).")
    p.add_argument("name", nargs="?", help="print this config's YAML instead of the list")
    p.set_defaults(func=cmd_configs)


def cmd_train(args) -> int:
    import os

    from patchgen.config import check_batch_split

    run = resumed_run(args)
    sets = [*args.set, *([f"train.device={args.device}"] if args.device else [])]
    config = training_config(args.config, sets, run)  # before torch loads: a config error is one line, at once
    check_batch_split(config, int(os.environ.get("WORLD_SIZE", "1")))  # torchrun's process count, torch-free
    from patchgen.api import run_training

    out = run or (Path(args.out) if args.out else Path("runs") / Path(args.config).stem)
    run_training(config, out, resume=run is not None, evaluate=not args.no_eval, progress=not args.quiet)
    return 0


def resumed_run(args) -> Path | None:
    """The run --resume continues (None: a new run): `--resume RUN`, or the flag with --out RUN (or a config's
    default folder)."""
    from patchgen.errors import UserError

    if not args.resume:
        if not args.config:
            raise UserError("train needs a config: a shipped one's name (`patchgen configs` lists them) or a YAML "
                            "file; or --resume RUN to continue a run")
        return None
    if args.resume is True:
        if args.out or args.config:
            return Path(args.out) if args.out else Path("runs") / Path(args.config).stem
        raise UserError("--resume needs the run to continue: patchgen train --resume RUN")
    run = Path(args.resume)
    if run.is_file():
        raise UserError(f"--resume takes a run directory, and {run} is a file: continue a run with `patchgen train "
                        f"--resume RUN` (or `patchgen train {run} --resume --out RUN`)")
    if args.out and Path(args.out) != run:
        raise UserError(f"--resume {run} and --out {args.out} name two runs: give the run once, "
                        f"`patchgen train --resume RUN`")
    return run


def training_config(source, sets, run: Path | None):
    """The config to train with: the one given (a resume checks it against the run's), else the resumed run's
    own as it stands (RUN/config.yaml and the changes its resumes recorded), with --set over it."""
    from patchgen.config import load_config

    if source:
        return load_config(source, sets)
    from patchgen.errors import UserError, require_folder
    from patchgen.run_dir import CONFIG, config_in_force

    if not (require_folder(run, "run directory") / CONFIG).is_file():
        raise UserError(f"nothing to resume in {run} (no {CONFIG}): give a run directory `patchgen train` wrote")
    return load_config(None, sets, values=config_in_force(run), recorded=True)


def cmd_eval(args) -> int:
    from patchgen.errors import UserError

    config = None
    if args.run is None:  # a published artifact, no run: the config comes from the flags, checked as any config
        if not (args.artifact and args.victim and args.data and args.out):
            raise UserError("eval needs a run directory, or --artifact IMAGE with --victim, --data and --out")
        from patchgen.config import load_config

        config = load_config(None, [f"victim={args.victim}", f"data.train={args.data}", *args.set])
    elif args.victim or args.set:
        raise UserError("--victim and --set describe an artifact without a run; a run's own config is used as is")
    from patchgen.run_evaluation import evaluate_run

    evaluate_run(args.run, data=args.data, labels=args.labels, out=args.out, batch=args.batch,
                 progress=not args.quiet, artifact=args.artifact, config=config, device=args.device)
    return 0


def cmd_demo(args) -> int:
    from patchgen.demo import run_demo

    run_demo(args.out, [f"train.device={args.device}", *args.set], progress=not args.quiet)  # a --set wins
    return 0


def cmd_configs(args) -> int:
    from patchgen.config import config_file, shipped_configs

    if args.name:
        print(config_file(args.name).read_text(), end="")
        return 0
    described = shipped_configs()
    width = max(map(len, described))
    for name, description in described.items():
        print(f"{name:<{width}}  {description}")
    print("\nrun one: patchgen train NAME --set data.train=FOLDER; see one: patchgen configs NAME")
    return 0
