"""Bad input gives one clear line and a non-zero exit, through the real console entry."""

import subprocess
import sys

import pytest

from patchgen.config import load_config
from patchgen.errors import UserError


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "patchgen.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd)


def one_error_line(result):
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert lines and lines[-1].startswith("patchgen ") and "error:" in lines[-1], result.stderr
    return lines[-1]


def write_config(path, victim, data, extra=""):
    path.write_text(f"victim: {victim}\nimgsz: 320\ndata:\n  train: {data}\ntrain:\n  steps: 2\n  batch: 1\n{extra}")
    return path


def test_unknown_config_key(tmp_path, yolov5n_path, inria_dev):
    config = write_config(tmp_path / "c.yaml", yolov5n_path, inria_dev, "  stepz: 3\n")
    line = one_error_line(run_cli("train", config, "--out", tmp_path / "run"))
    assert "unknown config key 'train.stepz'" in line


def test_bad_config_value_names_the_key():
    with pytest.raises(UserError, match="'train.batch' must be an integer"):
        load_config(None, ["victim=x", "data.train=y", "train.batch=eight"])
    with pytest.raises(UserError, match="'eot.contrast' must be a list of 2"):
        load_config(None, ["victim=x", "data.train=y", "eot.contrast=0.5"])
    with pytest.raises(UserError, match="'loss.vanish_scope' must be one of image, target, got 'box'"):
        load_config(None, ["victim=x", "data.train=y", "loss.vanish_scope=box"])
    with pytest.raises(UserError, match="'loss.vanish_log'"):
        load_config(None, ["victim=x", "data.train=y", "loss.vanish_log=-1"])


def test_missing_image_folder(tmp_path, yolov5n_path):
    config = write_config(tmp_path / "c.yaml", yolov5n_path, tmp_path / "nowhere")
    line = one_error_line(run_cli("train", config, "--out", tmp_path / "run"))
    assert "image folder not found" in line and "nowhere" in line


def test_unknown_model_name(tmp_path, inria_dev):
    config = write_config(tmp_path / "c.yaml", "yolo_does_not_exist", inria_dev)
    line = one_error_line(run_cli("train", config, "--out", tmp_path / "run"))
    assert "unknown model 'yolo_does_not_exist'" in line


def test_corrupt_images_are_skipped_and_counted_but_all_corrupt_is_an_error(tmp_path, yolov5n_path, inria_dev):
    import shutil

    data = tmp_path / "data"
    (data / "images").mkdir(parents=True)
    (data / "labels").mkdir()
    (data / "images" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (data / "labels" / "broken.txt").write_text("0 0.5 0.5 0.2 0.5\n")
    config = write_config(tmp_path / "c.yaml", yolov5n_path, data)
    line = one_error_line(run_cli("train", config, "--out", tmp_path / "run1"))
    assert "none of the 1 images" in line

    shutil.copyfile(inria_dev / "images" / "crop001501.jpg", data / "images" / "good.jpg")
    shutil.copyfile(inria_dev / "labels" / "crop001501.txt", data / "labels" / "good.txt")
    result = run_cli("train", config, "--out", tmp_path / "run2", "--quiet", "--no-eval")
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "broken.jpg" in warnings[0]
    import json

    assert json.loads((tmp_path / "run2" / "patch.json").read_text())["data"]["skipped"] == 1


def test_existing_run_is_not_overwritten_without_resume(tmp_path, yolov5n_path, inria_dev):
    config = write_config(tmp_path / "c.yaml", yolov5n_path, inria_dev)
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint.safetensors").write_bytes(b"precious")
    line = one_error_line(run_cli("train", config, "--out", run))
    assert "--resume" in line
    assert (run / "checkpoint.safetensors").read_bytes() == b"precious"
