"""`patchgen demo`: train a pair of privacy glasses (Sharif et al. 2016: an eyeglass frame that hides a face from
a detector while the face stays in view) on images that come with the installed packages, evaluate it and export
it for printing, all on CPU in minutes."""

import shutil
import sys
from pathlib import Path

from patchgen.config import load_config
from patchgen.errors import UserError
from patchgen.run_dir import REPORT, read_sidecar

DEMO_CONFIG = Path(__file__).parent / "configs" / "demo.yaml"
# the frame's shape: two lens rims, a bridge and temple stubs, the lenses clear; passed as an absolute path
# (a relative one in demo.yaml would mean the folder the command runs in)
DEMO_GLASSES = Path(__file__).parent / "configs" / "demo_glasses.png"
ORIGIN = "demo"  # the run record's origin: a demo resumes only a run it started


def demo_images() -> list[Path]:
    """One face each, found by the clean detector at >= 0.7. Ultralytics' bus.jpg is left out: its faces (behind
    sunglasses) score 0.28-0.40 clean, so any frame over the eyes, random or trained, hides them."""
    import matplotlib
    import skimage.data
    import ultralytics

    return [Path(ultralytics.__file__).parent / "assets" / "zidane.jpg",
            Path(skimage.data.__file__).parent / "astronaut.png",
            Path(matplotlib.__file__).parent / "mpl-data" / "sample_data" / "grace_hopper.jpg"]


def demo_config(images: Path, overrides=()):
    return load_config(DEMO_CONFIG, [f"data.train={images}", f"artifact.shape={DEMO_GLASSES}", *overrides])


def run_demo(out, overrides=(), progress=True, export=True) -> Path:
    """Trains and evaluates on the config's train.device (`patchgen demo --device` sets it)."""
    from patchgen.run_dir import holds_run, read_record

    out = Path(out)
    images = out / "images"
    config = demo_config(images, overrides)
    resume = holds_run(out)
    if resume and (read_record(out) or {}).get("origin") != ORIGIN:
        raise UserError(f"{out} holds a run that is not a demo: choose another --out "
                        f"(or continue it with `patchgen train --resume {out}`)")
    from patchgen.run_evaluation import evaluate_run
    from patchgen.run_lock import run_lock
    from patchgen.training import train

    with run_lock(out):
        images.mkdir(exist_ok=True)
        for path in demo_images():
            shutil.copyfile(path, images / path.name)
        if resume:
            print(f"demo: resuming the run in {out}", file=sys.stderr)
        train(config, out, resume=resume, progress=progress, origin=ORIGIN)
        report = evaluate_run(out, progress=progress, device=config.train.device).folder / REPORT
        pdf = export_pdf(out) if export else None
    print(f"demo: done; open {report}" + (f", and print {pdf} at 100 % (actual size)" if pdf else ""),
          file=sys.stderr)
    return out


def export_pdf(run_dir: Path) -> Path:
    """The frame at the size its training implies on a face (printing/physical_scale.py), as `patchgen export`."""
    from printing.export import export_run
    from printing.physical_scale import implied_size

    size = implied_size(run_dir, read_sidecar(run_dir)).size
    return export_run(run_dir, size=size, dpi=300, paper="A4").pdf
