"""Configs that used to be read wrongly without a word, and messages that did not say what to do: a key given
twice, a tab, keys the run ignores, a goal the user never wrote, a misspelt classifier, stickers on a classifier,
a CUDA device on a machine without one, a batch torchrun cannot split, `export` of a run still training."""

import os
import subprocess
import sys

import pytest
import torch

from patchgen.config import load_config
from patchgen.errors import UserError
from spine_helpers import small_config, two_image_folder
from test_config_and_cli import one_error_line, run_cli

CLASSIFIER = "mobilenet_v2-imagenet"


def classifier_keys(*extra):
    return ["victim=" + CLASSIFIER, "data.train=images", "goal=untargeted", *extra]


def test_a_key_given_twice_is_refused_with_both_lines(tmp_path):
    config = tmp_path / "twice.yaml"
    config.write_text("victim: yolov8n.pt\ndata:\n  train: images\ntrain:\n  steps: 5\neot:\n  noise: 0\n"
                      "train:\n  batch: 2\n")
    with pytest.raises(UserError) as err:
        load_config(config)
    assert "at line 8" in str(err.value) and "key 'train' is given twice (first at line 4)" in str(err.value)
    config.write_text("victim: yolov8n.pt\ndata: {train: images}\ntrain: {steps: 5, steps: 6}\n")
    with pytest.raises(UserError, match="key 'steps' is given twice"):
        load_config(config)
    # YAML's own way to repeat keys, a merge, still works
    config.write_text("victim: yolov8n.pt\ndata: {train: images}\ntrain:\n  <<: {steps: 5, batch: 4}\n  steps: 7\n")
    merged = load_config(config)
    assert (merged.train.steps, merged.train.batch) == (7, 4)


def test_a_tab_is_refused_with_its_line_and_what_to_do(tmp_path):
    config = tmp_path / "tab.yaml"
    config.write_text("victim: yolov8n.pt\ndata:\n\ttrain: images\n")
    with pytest.raises(UserError) as err:
        load_config(config)
    assert "at line 3, column 1" in str(err.value) and "replace the tab" in str(err.value)


@pytest.mark.parametrize("extra, key, reader", [
    (["goal_class=toaster"], "goal_class", "goal mislabel, appear or targeted"),
    (["artifact.reference=photo.jpg"], "artifact.reference", "artifact.kind camouflage"),
    (["artifact.pieces=[{side: 0.1}]"], "artifact.pieces", "artifact.kind stickers"),
    (["target_classes=[dog]"], "target_classes", "victim family detector"),
    (["loss.vanish_log=0.1"], "loss.vanish_log", "goal vanish"),
    (["placement.scale=0.3"], "placement.scale", "placement.kind on_targets"),
    (["loss.style_image=style.png"], "loss.style_image", "loss term style"),
])
def test_a_key_the_run_never_reads_is_refused(extra, key, reader):
    with pytest.raises(UserError) as err:
        load_config(None, classifier_keys(*extra))
    assert f"config key '{key}'" in str(err.value) and f"only {reader} read it" in str(err.value)


def test_keys_at_their_defaults_and_keys_that_are_read_pass():
    load_config(None, classifier_keys("target_classes=[person]", "placement.area=0.2", "goal_class=''"))
    config = load_config(None, ["victim=yolov8n.pt", "data.train=images", "goal=appear", "goal_class=car",
                                "placement.area=0.05"])
    assert config.goal_class == "car" and config.placement.area == 0.05


def test_a_recorded_run_config_stays_readable(tmp_path, yolov5n_path, inria_dev):
    """RUN/config.yaml holds every key, defaults included, and runs made before the check may hold ignored ones."""
    from patchgen.config import dump_yaml
    from patchgen.run_dir import run_config

    config = small_config(yolov5n_path, two_image_folder(inria_dev, tmp_path / "data"))
    config.goal_class = "car"  # ignored by vanish: what an older run could have recorded
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").write_text(dump_yaml(config))
    assert run_config(tmp_path / "run").goal_class == "car"


def test_a_goal_never_written_is_not_blamed_on_the_user(tmp_path):
    config = tmp_path / "classifier.yaml"
    config.write_text(f"victim: {CLASSIFIER}\ndata: {{train: images}}\n")
    line = one_error_line(run_cli("train", config, "--out", tmp_path / "run"))
    assert "'goal' is not set" in line and "--set goal=untargeted" in line
    line = one_error_line(run_cli("train", config, "--set", "goal=vanish", "--out", tmp_path / "run"))
    assert "'goal' = 'vanish' is a detector goal" in line and "use one of its goals (untargeted, targeted)" in line


@pytest.mark.parametrize("name, meant", [("mobilenet_v2_imagenet", "did you mean mobilenet_v2-imagenet?"),
                                         ("MobileNetV2-ImageNet", "did you mean mobilenet_v2-imagenet?"),
                                         ("cifar_resnet20", "did you mean cifar_resnet20:PATH")])
def test_a_misspelt_classifier_is_not_called_a_detector(name, meant):
    with pytest.raises(UserError) as err:
        load_config(None, ["victim=" + name, "data.train=images", "goal=untargeted"])
    assert meant in str(err.value) and "detector goal" not in str(err.value)


@pytest.mark.parametrize("placement", [[], ["placement.kind=anywhere"]])
def test_stickers_on_a_classifier_say_what_a_classifier_takes(placement):
    with pytest.raises(UserError) as err:
        load_config(None, classifier_keys("artifact.kind=stickers", "artifact.pieces=[{side: 0.1}]", *placement))
    message = str(err.value)
    assert "goes on target boxes" in message and "use patch, texture, camouflage or pixels for a classifier" in message


@pytest.mark.skipif(torch.cuda.is_available(), reason="the message is for machines without CUDA")
def test_cuda_without_a_gpu_is_answered_in_the_words_of_the_config():
    """(`--device` on score and live: tests/test_capture_live.py.)"""
    from patchgen.device import resolve_device

    with pytest.raises(UserError) as err:
        resolve_device("cuda:1", "train.device")  # a run's config
    assert "train.device 'cuda:1'" in str(err.value) and "--set train.device=cpu" in str(err.value)


def test_a_batch_torchrun_cannot_split_is_one_line_from_one_rank(tmp_path, yolov5n_path, inria_dev):
    data = two_image_folder(inria_dev, tmp_path / "data")
    config = tmp_path / "c.yaml"
    config.write_text(f"victim: {yolov5n_path}\nimgsz: 320\ndata: {{train: {data}}}\ntrain: {{steps: 2, batch: 3}}\n")
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "patchgen", "train", str(config), "--out", str(tmp_path / "run"), "--quiet"],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode != 0
    ours = [line for line in done.stderr.splitlines() if line.startswith("patchgen train")]
    assert ours == ["patchgen train: error: config key 'train.batch' = 3 must split evenly over the 2 processes "
                    "torchrun started: use a multiple of 2"], done.stderr
    assert "[rank1]" not in done.stderr and "gloo" not in done.stderr
    assert not (tmp_path / "run").exists()


def test_export_of_a_run_still_training_says_so(tmp_path, yolov5n_path, inria_dev):
    from patchgen.training import train

    config = small_config(yolov5n_path, two_image_folder(inria_dev, tmp_path / "data"), **{"train.steps": 4,
                                                                                          "train.checkpoint_every": 2})
    run = train(config, tmp_path / "run", progress=False, stop_after=2)
    line = one_error_line(run_cli("export", run, "--size", "10cm"))
    assert "stopped before the end of its training (step 2 of 4)" in line and "--resume" in line
    # a process holding the run's lock, as `patchgen train` does while it trains
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, os, sys, time; fd = os.open(sys.argv[1], "
                               "os.O_RDWR); fcntl.flock(fd, fcntl.LOCK_EX); os.ftruncate(fd, 0); "
                               "os.write(fd, b'4242'); "
                               "print('held', flush=True); time.sleep(60)", str(run / ".lock")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        line = one_error_line(run_cli("export", run, "--size", "10cm"))
    finally:
        holder.kill()
    assert "is still training (step 2 of 4, pid 4242)" in line and "wait for it" in line
