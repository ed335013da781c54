"""`patchgen score` (photos and videos of a printed artifact) and `patchgen live` (camera, stream or file)."""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path

from patchgen.errors import UserError
from patchgen.goals.thresholds import FOUND_CONF
from patchgen.run_dir import SCORE, new_folder


EXPORT_HELP = ("the print the photos show: an export's name in RUN/export (e.g. patch_80x80mm_a4) or the path of "
               "its .json (default: whichever of the run's exports the markers fit)")
MAX_PORT = 65535
IMGSZ_HELP = "victim input size (default: the run's, as its config says; else the victim's own)"
DEVICE_HELP = "where the victim runs: cpu, cuda, cuda:N or auto (a GPU where there is one; default auto)"
CONF_HELP = f"detection threshold of a detector's verdict (default {FOUND_CONF}, as evaluation counts detections)"
LABEL_HELP = ("the photos' true class, for a classifier run's untargeted goal (a name or index of the victim's "
              "classes; default: what the victim sees with the artifact painted out)")


def add_commands(subparsers):
    score = subparsers.add_parser(
        "score", help="re-score photos and videos of a printed artifact (a run's, or a published one: --artifact)",
        description="Find the artifact in each photo or video frame (markers, else its own image features), "
                    "measure its colours, run the victim with and without it, and write a report.")
    score.add_argument("inputs", nargs="+", metavar="PHOTO_OR_VIDEO",
                       help="photos and videos, or folders of them (each folder's own files, sorted by name)")
    score.add_argument("--run", help="run directory: its artifact, victim, goal and exports")
    score.add_argument("--artifact", metavar="IMAGE",
                       help="instead of a run: the image that was printed (a peer's published patch, a PNG from "
                            "another tool), found in the photos by its own features; needs --victim and --out")
    score.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="with --artifact: what the attack is for, as a run's config says it: goal=vanish|"
                            "mislabel|appear, target_classes=[person], goal_class=car (default: vanish person)")
    score.add_argument("--size", help="with --artifact: its printed size as export takes it (8cm, 30x20cm), if "
                                      "known; without it the photos are scored all the same, the size unknown")
    score.add_argument("--out", help="output directory, new or empty (default: RUN/score, else RUN/score-2, ...: "
                                     "each scoring gets its own)")
    score.add_argument("--stride", type=int, default=1, help="score every N-th video frame (default 1)")
    score.add_argument("--victim", help="model to score with (default: the run's victim)")
    score.add_argument("--conf", type=float, default=FOUND_CONF, help=CONF_HELP)
    score.add_argument("--label", metavar="CLASS", help=LABEL_HELP)
    score.add_argument("--imgsz", type=int, help=IMGSZ_HELP)
    score.add_argument("--fill", choices=("grey", "random"), default="grey",
                       help="what paints the artifact over in the counterfactual")
    score.add_argument("--threads", type=int, help="CPU threads for the victim (default: torch's choice)")
    score.add_argument("--device", default="auto", help=DEVICE_HELP)
    score.add_argument("--export", metavar="NAME", help=EXPORT_HELP)
    score.set_defaults(func=run_score)

    live = subparsers.add_parser(
        "live", help="live demo: detections and the attack's verdict over camera frames",
        description="Frames from a camera index, a stream URL or a video file, annotated live. "
                    "Keys (window) or buttons (--serve page): s = snapshot, c = toggle counterfactual, q = quit.")
    live.add_argument("--camera", default="0", help="camera index, stream URL or video file (default 0)")
    live.add_argument("--run", help="run directory: the artifact to look for and its victim")
    live.add_argument("--victim", help="model (default: the run's victim)")
    live.add_argument("--export", metavar="NAME", help=EXPORT_HELP)
    live.add_argument("--serve", action="store_true", help="serve the annotated stream on a local web page")
    live.add_argument("--host", default="127.0.0.1", help="address for --serve (default 127.0.0.1)")
    live.add_argument("--port", type=int, default=8765, help="port for --serve (default 8765; 0 = any free)")
    live.add_argument("--frames", type=int, help="stop after N frames")
    live.add_argument("--imgsz", type=int, help=IMGSZ_HELP)
    live.add_argument("--conf", type=float, default=FOUND_CONF, help=CONF_HELP)
    live.add_argument("--label", metavar="CLASS", help=LABEL_HELP)
    live.add_argument("--loop", action="store_true", help="start a video file over when it ends")
    live.add_argument("--no-window", action="store_true", help="no OpenCV window even where there is a screen")
    live.add_argument("--no-features", action="store_true",
                      help="find the artifact by its markers only (feature matching is the slow path)")
    live.add_argument("--snapshots", default="snapshots", help="folder for snapshots (default ./snapshots)")
    live.add_argument("--threads", type=int,
                      help="CPU threads for the victim (default: torch's; 1 is often faster on a busy machine)")
    live.add_argument("--device", default="auto", help=DEVICE_HELP)
    live.set_defaults(func=run_live)


def _check_common(args):
    """Checks the flags both commands share; returns the victim's device."""
    from patchgen.device import resolve_device

    device = resolve_device(args.device, "--device")
    if args.threads is not None:
        if args.threads < 1:
            raise UserError(f"--threads must be >= 1, got {args.threads}")
        import torch

        torch.set_num_threads(args.threads)
    if not 0 < args.conf < 1:
        raise UserError(f"--conf must be between 0 and 1, got {args.conf}")
    if args.imgsz is not None and (args.imgsz < 32 or args.imgsz % 32):
        raise UserError(f"--imgsz must be a multiple of 32 (>= 32), got {args.imgsz}")
    return device


def _score_artifact(args):
    """The artifact the photos show: the run's, or a published image with its attack from the flags. Every flag
    is checked against the other before anything is read."""
    from capture.run_artifact import load_run, published_artifact

    if args.run and args.artifact:
        raise UserError("give --run RUN or --artifact IMAGE, not both: a run scores its own artifact")
    if args.run:
        if args.set or args.size:
            raise UserError("--set and --size describe an --artifact IMAGE; a run's sidecar and exports say both")
        return load_run(args.run, export=args.export), Path(args.out) if args.out else new_folder(args.run, SCORE)
    if not args.artifact:
        raise UserError("say what the photos show: --run RUN, or --artifact IMAGE with --victim and --out")
    if not args.victim:
        raise UserError("--artifact IMAGE needs --victim MODEL: there is no run to name the model it attacks")
    if not args.out:
        raise UserError("--artifact IMAGE needs --out FOLDER: there is no run directory to write the report into")
    if args.export:
        raise UserError("--export chooses one of a run's exports; an --artifact IMAGE has none (no markers)")
    return published_artifact(args.artifact, args.victim, args.set, args.size), Path(args.out)


def run_score(args) -> int:
    from capture.batch import score_inputs

    device = _check_common(args)
    if args.stride < 1:
        raise UserError(f"--stride must be >= 1, got {args.stride}")
    artifact, out = _score_artifact(args)
    score_inputs(args.inputs, artifact, out, stride=args.stride, victim=args.victim, conf=args.conf,
                 imgsz=args.imgsz, fill=args.fill, device=device, label=args.label,
                 log=lambda m: print(m, file=sys.stderr))
    return 0


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run_live(args) -> int:
    from capture.batch import input_size, load_victim_for
    from capture.frames import FrameSource
    from capture.live import LiveDemo, has_screen
    from capture.run_artifact import load_run

    device = _check_common(args)
    if args.frames is not None and args.frames < 1:
        raise UserError(f"--frames must be >= 1, got {args.frames}")
    if not 0 <= args.port <= MAX_PORT:
        raise UserError(f"--port must be between 0 and {MAX_PORT} (0: any free port), got {args.port}")
    if args.export and not args.run:
        raise UserError("--export chooses one of a run's exports: give the run with --run")

    def log(message):
        print(message, file=sys.stderr)

    artifact = load_run(args.run, export=args.export) if args.run else None
    if artifact is None and not args.victim:
        raise UserError("say which model to run: --run RUN or --victim MODEL")
    # The camera first: a wrong index fails in a moment, before seconds of model loading.
    source = FrameSource(args.camera, loop=args.loop).open()
    server = None
    try:
        victim = load_victim_for(artifact, args.victim, device) if artifact is not None else \
            load_victim_for_name(args.victim, device)
        imgsz, imgsz_from = input_size(args.imgsz, artifact, victim)
        log(f"victim input size: {imgsz} px ({imgsz_from})")
        window = has_screen() and not args.no_window
        if args.serve:
            from capture.serve import LiveServer

            if not _loopback(args.host):
                log(f"warning: serving on {args.host}: anyone who can reach this address sees the camera")
            server = LiveServer(args.host, args.port).start()  # a port in use: one UserError
            log(f"live page: {server.url}")
        elif not window:
            log("no screen here: running without a window (add --serve to watch in a browser)")
        demo = LiveDemo(source, victim, artifact, imgsz=imgsz, conf=args.conf, window=window, server=server,
                        snapshot_dir=args.snapshots, max_frames=args.frames, use_features=not args.no_features,
                        label=args.label, log=log)
        summary = demo.run()
    finally:
        source.close()  # whatever stopped us, the camera is free again (closing twice is harmless)
        if server is not None:
            server.close()
    log(f"live: {summary.frames} frames at {summary.fps:.1f} fps; {summary.failed_frames} failed, "
        f"{summary.bad_frames} bad; {summary.ended}")
    if summary.frames == 0 and summary.failed_frames:
        raise UserError(f"{args.camera}: none of the {summary.failed_frames} frames read could be processed "
                        f"(first: {summary.first_failure})")
    if summary.frames == 0:
        raise UserError(f"{args.camera}: no frame could be read ({summary.ended})")
    return 0


def load_victim_for_name(name, device):
    from patchgen.victims import load_victim

    return load_victim(str(name), device=device)
