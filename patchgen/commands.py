"""`patchgen train | eval | demo`: argument parsing only; the work lives in train.py, evaluate.py, demo.py."""

from pathlib import Path


def add_commands(sub) -> None:
    p = sub.add_parser("train", help="train an artifact with EOT against a victim")
    p.add_argument("config", help="run config (YAML)")
    p.add_argument("--out", help="run directory (default: runs/<config name>)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--no-eval", action="store_true", help="skip the digital evaluation after training")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
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
    p.add_argument("--labels", choices=["auto", "files", "pseudo"])
    p.add_argument("--out", help="output folder (default: RUN/eval)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("demo", help="train, evaluate and export a small face-hiding patch on embedded images")
    p.add_argument("--out", default="runs/demo", help="run directory (default: runs/demo)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_demo)


def cmd_train(args) -> int:
    from patchgen.config import load_config

    import os

    from patchgen.config import check_batch_split

    config = load_config(args.config, args.set)  # before torch loads: a config error is one line, at once
    check_batch_split(config, int(os.environ.get("WORLD_SIZE", "1")))  # torchrun's process count, torch-free
    from contextlib import nullcontext

    from patchgen.distributed import world
    from patchgen.evaluate import evaluate_run
    from patchgen.run_lock import run_lock
    from patchgen.train import train

    out = Path(args.out) if args.out else Path("runs") / Path(args.config).stem
    main = world().main  # under torchrun: rank 0 alone locks, writes and evaluates
    with run_lock(out) if main else nullcontext():  # over training and its evaluation: no other writer in between
        train(config, out, resume=args.resume, progress=not args.quiet)
        if main and not args.no_eval:
            evaluate_run(out, progress=not args.quiet)
    return 0


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
    from patchgen.evaluate import evaluate_run

    evaluate_run(args.run, data=args.data, labels=args.labels, out=args.out, batch=args.batch,
                 progress=not args.quiet, artifact=args.artifact, config=config)
    return 0


def cmd_demo(args) -> int:
    from patchgen.demo import run_demo

    run_demo(args.out, args.set, progress=not args.quiet)
    return 0
