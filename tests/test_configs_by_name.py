"""The starter configs shipped in the package: each runs by name from any folder with only its data added, `patchgen
configs` lists them, and a wrong name or missing data is one line that says what to do."""

import json
import shutil
import subprocess
import sys

import pytest

from patchgen.cli import main
from spine_helpers import two_image_folder
from patchgen.config import shipped_configs

SHIPPED = ["person-patch", "toaster", "glasses", "tshirt", "camouflage", "stickers", "phantom-stop-sign"]
DETECTORS = ["person-patch", "tshirt", "camouflage", "stickers", "phantom-stop-sign"]
FAST = ["--set", "train.steps=2", "--set", "train.batch=2", "--set", "train.log_every=1", "--quiet"]


@pytest.fixture(scope="module")
def people(inria_dev, tmp_path_factory):
    """Two INRIA dev images with their YOLO labels (images/ + labels/)."""
    return two_image_folder(inria_dev, tmp_path_factory.mktemp("people"))


@pytest.fixture(scope="module")
def imagenet_few(shared_assets, tmp_path_factory):
    """Three ImageNet dev photos, none a toaster, as a flat folder with its labels.tsv rows."""
    folder = tmp_path_factory.mktemp("imagenet_few")
    rows = (shared_assets / "data" / "imagenet_samples" / "dev" / "labels.tsv").read_text().splitlines()
    for row in rows[1:4]:
        shutil.copyfile(shared_assets / "data" / "imagenet_samples" / "dev" / row.split("\t")[0],
                        folder / row.split("\t")[0])
    (folder / "labels.tsv").write_text("\n".join(rows[:4]) + "\n")
    return folder


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    """The demo's photos (one sure face each), which come with the installed packages."""
    from patchgen.demo import demo_images

    folder = tmp_path_factory.mktemp("faces")
    for path in demo_images()[:2]:
        shutil.copyfile(path, folder / path.name)
    return folder


def fast_settings(name, people, imagenet_few, faces, yolov5n_path) -> list[str]:
    """What makes a shipped config run in seconds here: its data, a small input, and for the detectors the offline
    YOLOv5n (the shipped yolov8n.pt would be a download)."""
    if name == "toaster":
        return ["--set", f"data.train={imagenet_few}", "--set", "imgsz=96"]
    if name == "glasses":
        return ["--set", f"data.train={faces}", "--set", "imgsz=320", "--set", "data.crop=0"]
    return ["--set", f"data.train={people}", "--set", f"victim={yolov5n_path}", "--set", "imgsz=160",
            "--set", "data.crop=0"]


def test_the_shipped_names_are_listed_each_with_a_line(tmp_path):
    assert sorted(shipped_configs()) == sorted(SHIPPED)
    listing = subprocess.run([sys.executable, "-m", "patchgen", "configs"], cwd=tmp_path, capture_output=True,
                             text=True)
    assert listing.returncode == 0, listing.stderr
    lines = {line.split()[0]: line for line in listing.stdout.splitlines() if line.strip()}
    for name in SHIPPED:
        assert len(lines[name].split(maxsplit=1)[1]) > 30  # a description, not just the name
    shown = subprocess.run([sys.executable, "-m", "patchgen", "configs", "toaster"], cwd=tmp_path,
                           capture_output=True, text=True)
    assert shown.returncode == 0 and "goal_class: toaster" in shown.stdout


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_config_trains_by_name_from_another_folder(name, tmp_path, monkeypatch, capsys, people,
                                                             imagenet_few, faces, yolov5n_path, one_torch_thread):
    monkeypatch.chdir(tmp_path)
    extra = fast_settings(name, people, imagenet_few, faces, yolov5n_path)
    assert main(["train", name, *extra, *FAST]) == 0, capsys.readouterr().err
    run = tmp_path / "runs" / name
    sidecar = json.loads((run / "patch.json").read_text())
    assert sidecar["step"] == 2 and (run / "patch.png").is_file() and (run / "eval" / "results.json").is_file()
    recorded = (run / "config.yaml").read_text()
    if name == "glasses":  # the frame beside the shipped config, recorded as an absolute path
        assert "patchgen/configs/demo_glasses.png" in recorded
    if name == "camouflage":
        assert "patchgen/configs/camouflage_reference.png" in recorded
        assert len(sidecar["palette"]) == 8


def test_an_unknown_name_is_one_line_listing_the_names(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "toastre"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no config named 'toastre'" in err
    assert all(name in err for name in SHIPPED)


@pytest.mark.parametrize("name, layout", [("toaster", "labels.tsv"), ("person-patch", "images/ + labels/")])
def test_missing_data_says_the_layout_and_the_set_to_add(name, layout, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", name]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'data.train' is required" in err
    assert layout in err and "--set data.train=FOLDER" in err
    assert not (tmp_path / "runs").exists()  # refused before anything is written


def test_a_dict_key_typo_is_named_as_a_yaml_one_is(tmp_path):
    from patchgen.config import load_config
    from patchgen.errors import UserError

    (tmp_path / "typo.yaml").write_text("victim: yolov8n.pt\ndata: {train: x}\ntrain: {stesp: 3}\n")
    with pytest.raises(UserError) as from_yaml:
        load_config(tmp_path / "typo.yaml")
    with pytest.raises(UserError) as from_dict:
        load_config({"victim": "yolov8n.pt", "data": {"train": "x"}, "train": {"stesp": 3}})
    with pytest.raises(UserError) as from_values:
        load_config("toaster", values={"data": {"train": "x"}, "train.stesp": 3})
    assert str(from_yaml.value) == str(from_dict.value) == str(from_values.value)
    assert "unknown config key 'train.stesp'" in str(from_dict.value)
    merged = load_config("toaster", values={"data": {"train": "x"}, "train": {"steps": 3}}, overrides=["imgsz=96"])
    assert (merged.train.steps, merged.train.batch, merged.imgsz, merged.goal_class) == (3, 16, 96, "toaster")
