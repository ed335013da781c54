"""`patchgen demo`: train a small face-hiding patch on images that come with the installed packages, evaluate
it and export it for printing, all on CPU in minutes."""

import shutil
import sys
from pathlib import Path

from patchgen.config import load_config
from patchgen.errors import UserError

DEMO_CONFIG = Path(__file__).parent / "configs" / "demo.yaml"
ORIGIN = "demo"  # the run record's origin: a demo resumes only a run it started


def demo_images() -> list[Path]:
    import skimage.data
    import ultralytics

    assets = Path(ultralytics.__file__).parent / "assets"
    return [assets / "bus.jpg", assets / "zidane.jpg", Path(skimage.data.__file__).parent / "astronaut.png"]


def run_demo(out, overrides=(), progress=True, export=True) -> Path:
    from patchgen.run_dir import holds_run, read_record

    out = Path(out)
    images = out / "images"
    config = load_config(DEMO_CONFIG, [f"data.train={images}", *overrides])
    resume = holds_run(out)
    if resume and (read_record(out) or {}).get("origin") != ORIGIN:
        raise UserError(f"{out} holds a run that is not a demo: choose another --out "
                        f"(or continue it with `patchgen train CONFIG --out {out} --resume`)")
    from patchgen.evaluate import evaluate_run
    from patchgen.run_lock import run_lock
    from patchgen.train import train

    with run_lock(out):
        images.mkdir(exist_ok=True)
        for path in demo_images():
            shutil.copyfile(path, images / path.name)
        if resume:
            print(f"demo: resuming the run in {out}", file=sys.stderr)
        train(config, out, resume=resume, progress=progress, origin=ORIGIN)
        evaluate_run(out, progress=progress)
        if export:
            export_pdf(out)
    print(f"demo: done; open {out / 'eval' / 'report.html'}", file=sys.stderr)
    return out


def export_pdf(run_dir: Path) -> None:
    from printing.export import export_run

    export_run(run_dir, size="8cm", dpi=300, paper="A4")
