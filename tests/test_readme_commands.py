"""Every single-machine `patchgen` command in README.md's ```bash blocks runs as written, in README order, in one
fresh folder outside the repo: only what makes it fast here (a few steps, small images, offline models) is added,
and the files it says it writes must be there. A README command missing from COMMANDS below fails, so the README
cannot go stale."""

import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import REPO, SHARED_ASSETS
from patchgen.cli import main
from spine_helpers import two_image_folder

README = REPO / "README.md"

# What a detector run needs here: the offline YOLOv5n (official names such as yolov8n.pt would be a download), two
# labelled INRIA images, a small input and two steps. A later --set or flag wins over the README's own.
DETECTOR_FAST = ("--set victim={yolov5n} --set data.train={people} --set imgsz=160 --set data.crop=0 "
                 "--set train.steps=2 --set train.batch=2 --set train.log_every=1 --quiet")
VIDEO_NOT_WEBCAM = "--camera clip.mp4 --frames 2 --no-window"  # no webcam here: a video stands in for camera 0


@dataclass
class Command:
    """extra: arguments added to the README's line ({yolov5n}, {people}, {imagenet} are filled in);
    files: {path in the folder: what to put there (a key of PROVIDERS)} before it runs;
    setup_block: run the README block's own lines above the command first (a heredoc that writes its config);
    writes: glob patterns, each must match a file the command wrote (new or rewritten)."""

    extra: str = ""
    files: dict = field(default_factory=dict)
    setup_block: bool = False
    writes: tuple = ()


COMMANDS = {
    "patchgen configs": Command(),
    "patchgen train person-patch --set data.train=people --out runs/mine": Command(
        DETECTOR_FAST, writes=("runs/mine/patch.png", "runs/mine/patch.json", "runs/mine/eval*/report.html")),
    "patchgen train --resume runs/mine --set train.steps=5000": Command(
        "--set train.steps=3 --quiet", writes=("runs/mine/patch.png", "runs/mine/eval-*/report.html")),
    "patchgen eval runs/mine --data path/to/holdout": Command(
        "--quiet", files={"path/to/holdout": "people"}, writes=("runs/mine/eval*/results.json",)),
    "patchgen eval --artifact peer.png --victim yolov8n.pt --data holdout --out cmp --set placement.scale=0.2": Command(
        "--victim {yolov5n} --set imgsz=160 --quiet", files={"peer.png": "a published patch", "holdout": "people"},
        writes=("cmp*/report.html",)),
    "patchgen train toaster --set data.train=imagenet_photos --out runs/toaster": Command(
        "--set data.train={imagenet} --set train.steps=2 --set train.batch=2 --quiet",
        writes=("runs/toaster/patch.png", "runs/toaster/eval/report.html")),
    "patchgen train tshirt --set data.train=people --out runs/shirt": Command(
        DETECTOR_FAST + " --no-eval", writes=("runs/shirt/patch.png",)),
    "patchgen train stickers --set data.train=people --out runs/stickers": Command(
        DETECTOR_FAST + " --no-eval", writes=("runs/stickers/patch.png",)),
    "patchgen train query.yaml --out runs/query_toaster": Command(
        "--set data.train={imagenet} --set train.steps=1 --set train.batch=2 --set query.budget=64 --quiet",
        setup_block=True, writes=("runs/query_toaster/patch.png", "runs/query_toaster/eval*/queries.json")),
    "patchgen export runs/mine --paper A4 --dpi 300": Command(writes=("runs/mine/export/*.pdf",)),
    "patchgen export runs/mine --target-size 1.9m": Command("--no-png", writes=("runs/mine/export/*.pdf",)),
    "patchgen export runs/shirt --dpi 150": Command(writes=("runs/shirt/export/*.pdf", "runs/shirt/export/*.png")),
    "patchgen export runs/stickers": Command(writes=("runs/stickers/export/*.pdf",)),
    "patchgen calibrate chart --out chart.pdf": Command(writes=("chart.pdf", "chart.json")),
    "patchgen calibrate fit chart_photo.jpg --out colour_model.json": Command(
        files={"chart_photo.jpg": "a photo of the printed chart"}, writes=("colour_model.json",)),
    "patchgen calibrate palette chart_photo.jpg --out palette.txt": Command(writes=("palette.txt",)),
    "patchgen score photo1.jpg photo2.jpg clip.mp4 --run runs/mine --stride 5": Command(
        files={"photo1.jpg": "a photo", "photo2.jpg": "another photo", "clip.mp4": "a video"},
        writes=("runs/mine/score*/summary.json", "runs/mine/score*/report.html")),
    "patchgen score toaster_photo.jpg --run runs/toaster": Command(
        files={"toaster_photo.jpg": "a photo"}, writes=("runs/toaster/score*/summary.json",)),
    "patchgen live --camera 0 --run runs/mine": Command(VIDEO_NOT_WEBCAM),
    "patchgen live --camera clip.mp4 --run runs/mine --serve": Command("--frames 2 --port 0 --no-window"),
    "patchgen score photos/ --artifact peer.png --victim yolov8n.pt --size 30cm --out scored": Command(
        "--victim {yolov5n} --imgsz 160", files={"photos": "a folder of photos"}, writes=("scored/summary.json",)),
}


def readme_commands() -> list[tuple[str, str]]:
    """(command, the text of its ```bash block above it) for each line of a bash block that starts with
    `patchgen ` (continued lines joined, the trailing comment dropped); torchrun lines are multi-process."""
    found, block, inside = [], [], False
    lines = iter(README.read_text().splitlines())
    for line in lines:
        if line.startswith("```"):
            inside, block = line.strip() == "```bash", []
            continue
        if inside and line.startswith("patchgen "):
            while line.rstrip().endswith("\\"):
                line = line.rstrip()[:-1] + " " + next(lines).strip()
            found.append((shlex.join(shlex.split(line, comments=True)), "\n".join(block)))
        if inside:
            block.append(line)
    return found


def put_people(folder: Path, assets) -> None:
    two_image_folder(SHARED_ASSETS / "data" / "inria_test_pos" / "dev", folder)


def put_photo(index: int):
    def put(path: Path, assets) -> None:
        images = sorted((SHARED_ASSETS / "data" / "inria_test_pos" / "holdout" / "images").iterdir())
        shutil.copyfile(images[index], path)
    return put


def put_photos(folder: Path, assets) -> None:
    folder.mkdir()
    for index in range(2):
        put_photo(index)(folder / f"photo{index}.jpg", assets)


def put_video(path: Path, assets) -> None:
    """Ten frames of one INRIA photo, as MPEG-4."""
    import cv2

    frame = cv2.imread(str(sorted((SHARED_ASSETS / "data" / "inria_test_pos" / "holdout" / "images").iterdir())[0]))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (frame.shape[1], frame.shape[0]))
    for _ in range(10):
        writer.write(frame)
    writer.release()


def put_chart_photo(path: Path, assets) -> None:
    """chart.pdf (which the README's `calibrate chart` wrote) rendered at 100 dpi, printed and photographed through
    the simulated printer and camera."""
    import numpy as np
    from PIL import Image

    from printing.print_simulation import PrintColourDistortion, photograph

    subprocess.run(["pdftoppm", "-r", "100", "-png", "-singlefile", str(path.parent / "chart.pdf"),
                    str(path.parent / "chart_page")], check=True)
    page = np.asarray(Image.open(path.parent / "chart_page.png").convert("RGB"))
    Image.fromarray(photograph(PrintColourDistortion().apply_uint8(page), seed=2)[0]).save(path, quality=92)


PROVIDERS = {
    "people": put_people,
    "a published patch": lambda path, assets: shutil.copyfile(
        SHARED_ASSETS / "peer_patches" / "thys2019_object_score.png", path),
    "a photo": put_photo(0),
    "another photo": put_photo(1),
    "a folder of photos": put_photos,
    "a video": put_video,
    "a photo of the printed chart": put_chart_photo,
}


def run_cli(command: str, assets: dict) -> int:
    argv = shlex.split(command.format(**assets))
    assert argv[0] == "patchgen"
    try:
        return main(argv[1:])
    except SystemExit as exit_:  # argparse's own refusals
        return exit_.code


def changed_since(folder: Path, pattern: str, start: float) -> list[Path]:
    return [p for p in folder.glob(pattern) if p.is_file() and p.stat().st_mtime >= start]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, shared_assets, yolov5n_path, one_torch_thread):
    """One folder for the whole README, as a reader would use it, with the offline stand-ins named."""
    folder = tmp_path_factory.mktemp("readme")
    imagenet = folder.parent / "imagenet_few"  # three ImageNet photos in subfolders named by class index
    rows = (shared_assets / "data" / "imagenet_samples" / "dev" / "labels.tsv").read_text().splitlines()
    for row in rows[1:4]:
        name, index, _ = row.split("\t")
        (imagenet / index).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared_assets / "data" / "imagenet_samples" / "dev" / name, imagenet / index / name)
    people = folder.parent / "people"
    put_people(people, None)
    return folder, {"yolov5n": yolov5n_path, "people": people, "imagenet": imagenet}


def test_every_readme_command_is_in_the_table():
    written = [command for command, _ in readme_commands()]
    missing = [command for command in written if command not in COMMANDS]
    assert not missing, ("README.md has commands tests/test_readme_commands.py does not run; add each to COMMANDS "
                         "with what it needs to run fast: " + "; ".join(missing))
    stale = [command for command in COMMANDS if command not in written]
    assert not stale, "COMMANDS lists commands README.md no longer has; remove them: " + "; ".join(stale)


@pytest.mark.parametrize("command, block", readme_commands(), ids=[c for c, _ in readme_commands()])
def test_a_readme_command_runs_as_written(command, block, workdir, monkeypatch, capsys):
    folder, assets = workdir
    if command not in COMMANDS:
        pytest.fail(f"add {command!r} to COMMANDS in tests/test_readme_commands.py (what it needs to run fast)")
    row = COMMANDS[command]
    monkeypatch.chdir(folder)
    for path, what in row.files.items():
        if not (folder / path).exists():
            PROVIDERS[what](folder / path, assets)
    if row.setup_block:
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        setup = subprocess.run(["bash", "-e", "-c", block], cwd=folder, env=env, capture_output=True, text=True)
        assert setup.returncode == 0, setup.stderr
    start = time.time() - 1  # file times are not finer than a second everywhere
    assert run_cli(f"{command} {row.extra}", assets) == 0, capsys.readouterr().err
    for pattern in row.writes:
        assert changed_since(folder, pattern, start), f"{command} wrote no {pattern}"
