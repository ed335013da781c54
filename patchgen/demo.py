"""`patchgen demo`: train a small face-hiding patch on images that come with the installed packages, evaluate
it and export it for printing, all on CPU in minutes."""

import shutil
import sys
from pathlib import Path

from patchgen.config import load_config

DEMO_CONFIG = Path(__file__).parent / "configs" / "demo.yaml"


def demo_images() -> list[Path]:
    import skimage.data
    import ultralytics

    assets = Path(ultralytics.__file__).parent / "assets"
    return [assets / "bus.jpg", assets / "zidane.jpg", Path(skimage.data.__file__).parent / "astronaut.png"]


def run_demo(out, overrides=(), progress=True, export=True) -> Path:
    from patchgen.evaluate import evaluate_run
    from patchgen.train import train

    out = Path(out)
    images = out / "images"
    images.mkdir(parents=True, exist_ok=True)
    for path in demo_images():
        shutil.copyfile(path, images / path.name)
    config = load_config(DEMO_CONFIG, [f"data.train={images}", *overrides])
    resume = (out / "checkpoint.safetensors").exists()
    if resume:
        print(f"demo: resuming the run in {out}", file=sys.stderr)
    train(config, out, resume=resume, progress=progress)
    evaluate_run(out, progress=progress)
    if export:
        export_pdf(out)
    print(f"demo: done; open {out / 'eval' / 'report.html'}", file=sys.stderr)
    return out


def export_pdf(run_dir: Path) -> None:
    try:
        from printing.export import export_run
    except ImportError:  # printing's exporter is optional for the demo while it is being built
        print("demo: PDF export not available in this install", file=sys.stderr)
        return
    export_run(run_dir, size="8cm", dpi=300, paper="A4")
