"""A run folder has one writer, keeps the record of how it was made, and refuses what would silently change it:
a second writer, a resume with another config, a demo over a run that is not one, broken tensor files, a
training that turns non-finite, an output path under a file. Each refusal is one line and changes no file."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

from patchgen.training import train
from spine_helpers import small_config, two_image_folder
from test_config_and_cli import one_error_line, run_cli

LOCK = ".lock"  # the lock's own file: it holds the last holder's pid, so it is left out of snapshots


def snapshot(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != LOCK}


def config_file(path, victim, data, steps=4, extra=""):
    path.write_text(f"victim: {victim}\nimgsz: 320\ndata: {{train: {data}}}\nartifact: {{size: 32}}\n"
                    f"train: {{steps: {steps}, batch: 1, checkpoint_every: 2, log_every: 1{extra}}}\n"
                    "optimizer: {adam: {lr: 0.05}}\n")
    return path


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, yolov5n_path, inria_dev):
    """A finished 4-step run (a config file beside it); each test works on its own copy."""
    root = tmp_path_factory.mktemp("finished")
    data = two_image_folder(inria_dev, root / "data")
    config = config_file(root / "c.yaml", yolov5n_path, data)
    result = run_cli("train", config, "--out", root / "run", "--quiet", "--no-eval")
    assert result.returncode == 0, result.stderr
    return root


@pytest.fixture
def run_copy(finished_run, tmp_path):
    shutil.copytree(finished_run, tmp_path, dirs_exist_ok=True)
    return tmp_path / "run", tmp_path / "c.yaml"


def train_command(config, run, *extra):
    return [sys.executable, "-m", "patchgen.cli", "train", str(config), "--out", str(run), "--quiet", "--no-eval",
            *extra]


def test_a_second_writer_is_refused_and_a_killed_holder_leaves_no_stale_lock(yolov5n_path, inria_dev, tmp_path):
    data = two_image_folder(inria_dev, tmp_path / "data")
    config = config_file(tmp_path / "c.yaml", yolov5n_path, data, steps=40)
    run = tmp_path / "run"
    first = subprocess.Popen(train_command(config, run), stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        while first.poll() is None and not (run / "checkpoint.safetensors").exists():
            time.sleep(0.02)
        os.killpg(first.pid, signal.SIGSTOP)  # mid-run, holding the folder
        assert first.poll() is None, "the first run must still be running"
        before = snapshot(run)
        second = run_cli("train", config, "--out", run, "--quiet", "--no-eval", "--resume")
        line = one_error_line(second)
        assert second.returncode == 2 and str(run) in line and "in use" in line and f"pid {first.pid}" in line
        assert snapshot(run) == before
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    resumed = run_cli("train", config, "--out", run, "--quiet", "--no-eval", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 41)), "one writer: the log reads as one run"


def test_a_resume_with_another_config_is_refused_naming_the_keys(run_copy, tmp_path):
    run, config = run_copy
    before = snapshot(run)
    result = run_cli("train", config, "--out", run, "--quiet", "--no-eval", "--resume",
                     "--set", "optimizer.adam.lr=0.1", "--set", "train.seed=3", "--set", "train.steps=8")
    line = one_error_line(result)
    assert result.returncode == 2
    refused = line.split(";")[0]
    assert "optimizer.adam.lr (0.05 -> 0.1)" in refused and "train.seed (0 -> 3)" in refused
    assert "train.steps" not in refused
    assert snapshot(run) == before

    result = run_cli("train", config, "--out", run, "--quiet", "--no-eval", "--resume", "--set", "train.steps=2")
    assert "train.steps (4 -> 2)" in one_error_line(result)
    assert snapshot(run) == before


def test_an_allowed_change_is_recorded_with_its_step_and_the_first_config_kept(run_copy):
    run, config = run_copy
    first_config = (run / "config.yaml").read_bytes()
    result = run_cli("train", config, "--out", run, "--quiet", "--no-eval", "--resume", "--set", "train.steps=6",
                     "--set", "train.log_every=2")
    assert result.returncode == 0, result.stderr
    assert (run / "config.yaml").read_bytes() == first_config
    record = json.loads((run / "run.json").read_text())
    assert record["origin"] == "train"
    assert [(r["from_step"], r["changes"]) for r in record["resumes"]] == [
        (4, {"train.log_every": [1, 2], "train.steps": [4, 6]})]
    # the device the config's `auto` resolved to, and the versions, at the start and at each resume
    for where in (record, record["resumes"][0]):
        assert where["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
        assert where["versions"]["torch"] == torch.__version__.split("+")[0] and where["versions"]["patchgen"]
        assert where["versions"]["ultralytics"] and where["versions"]["kornia"]
    assert json.loads((run / "patch.json").read_text())["step"] == 6


def test_demo_does_not_resume_a_run_that_is_not_a_demo(run_copy):
    run, _ = run_copy
    before = snapshot(run)
    line = one_error_line(run_cli("demo", "--out", run, "--quiet"))
    assert "not a demo" in line and str(run) in line
    assert snapshot(run) == before and not (run / "images").exists()


@pytest.mark.parametrize("name, command", [("checkpoint.safetensors", "train"), ("patch.safetensors", "eval")])
@pytest.mark.parametrize("keep", [0, 100])
def test_a_truncated_or_empty_tensor_file_is_one_line_naming_it(run_copy, name, command, keep):
    run, config = run_copy
    path = run / name
    path.write_bytes(path.read_bytes()[:keep])
    before = snapshot(run)
    args = ("train", config, "--out", run, "--resume", "--set", "train.steps=6") if command == "train" else (
        "eval", run)
    line = one_error_line(run_cli(*args, "--quiet"))
    assert str(path) in line and "truncated" in line
    assert snapshot(run) == before


def test_paths_in_the_saved_config_are_absolute_so_eval_works_from_another_folder(yolov5n_path, inria_dev,
                                                                                    tmp_path):
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    two_image_folder(inria_dev, here / "data")
    elsewhere.mkdir()
    config_file(here / "c.yaml", yolov5n_path, "data", steps=2)
    trained = run_cli("train", "c.yaml", "--out", "run", "--quiet", "--no-eval", cwd=here)
    assert trained.returncode == 0, trained.stderr
    assert f"train: {here / 'data'}\n" in (here / "run" / "config.yaml").read_text()
    evaluated = run_cli("eval", here / "run", "--quiet", cwd=elsewhere)
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads((here / "run" / "eval" / "results.json").read_text())


def test_a_run_that_turns_non_finite_stops_and_keeps_its_last_finite_checkpoint(yolov5n_path, inria_dev, tmp_path):
    # the victim's file is replaced between a run and its resume (same path, so the config is unchanged)
    victim = tmp_path / "victim.pt"
    shutil.copyfile(yolov5n_path, victim)
    data = two_image_folder(inria_dev, tmp_path / "data")
    config = small_config(victim, data, **{"train.steps": 8, "train.checkpoint_every": 2, "train.log_every": 3})
    run = train(config, tmp_path / "run", progress=False, stop_after=4)
    checkpoint = (run / "checkpoint.safetensors").read_bytes()
    weights = torch.load(victim, weights_only=True)
    first = next(iter(weights["state_dict"]))
    weights["state_dict"][first] = torch.full_like(weights["state_dict"][first], float("nan"))
    torch.save(weights, victim)

    result = run_cli("train", run / "config.yaml", "--out", run, "--resume", "--quiet", "--no-eval")
    line = one_error_line(result)
    assert "stopped at step 6" in line and "no longer finite" in line
    assert f"kept {run / 'checkpoint.safetensors'} from step 4" in line
    assert (run / "checkpoint.safetensors").read_bytes() == checkpoint
    assert not (run / "patch.png").exists()
    assert [json.loads(row)["step"] for row in (run / "metrics.jsonl").open()] == [3], "no nan row"


def test_an_output_path_under_a_file_is_one_line_from_every_command(run_copy, tmp_path):
    run, config = run_copy
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    photo = next((tmp_path / "data" / "images").iterdir())
    before, listing = snapshot(run), sorted(os.listdir(tmp_path))
    for args in [("train", config, "--out", blocker / "run", "--no-eval"),
                 ("eval", run, "--out", blocker / "eval"),
                 ("export", run, "--size", "5cm", "--any-size", "--out", blocker / "export"),
                 ("calibrate", "chart", "--out", blocker / "chart.pdf"),
                 ("score", photo, "--run", run, "--out", blocker / "score")]:
        result = run_cli(*args)
        line = one_error_line(result)
        assert result.returncode == 2 and str(blocker) in line, (args, line)
        assert "Not a directory" in line or "File exists" in line, (args, line)
    assert snapshot(run) == before and sorted(os.listdir(tmp_path)) == listing
