"""Data parallelism on the CPU (gloo): `torchrun --nproc_per_node 2 -m patchgen train` takes the steps one process
takes on the union of the two ranks' batches, writes the run once (rank 0), and resumes after it is stopped."""

import json
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors import safe_open

from patchgen.artifacts import load_artifact
from patchgen.config import load_config
from patchgen.optimizers.base import cosine_lr
from patchgen.training import Setup
from spine_helpers import two_image_folder

STEPS, BATCH = 6, 4


@pytest.fixture(scope="module")
def run_config(yolov5n_path, inria_dev, tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    data = two_image_folder(inria_dev, root / "data")
    config_file = root / "config.yaml"
    config_file.write_text("\n".join([
        f"victim: {yolov5n_path}", "imgsz: 320", "data: {train: " + str(data) + "}", "artifact: {size: 32}",
        f"train: {{steps: {STEPS}, batch: {BATCH}, checkpoint_every: 2, log_every: 1}}",
        "optimizer: {adam: {lr: 0.05}}"]) + "\n")
    return root, config_file


def torchrun(config_file, run, *extra, processes=2):
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
            "-m", "patchgen", "train", str(config_file), "--out", str(run), "--quiet", "--no-eval", *extra]


@pytest.fixture(scope="module")
def ddp_run(run_config):
    root, config_file = run_config
    done = subprocess.run(torchrun(config_file, root / "ddp"), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return root / "ddp"


def one_process_on_the_global_batch(config):
    """The oracle: one process, one artifact, each step's loss the mean of what the two ranks would draw."""
    ranks = [Setup(config, quiet=True, rank=r, ranks=2) for r in (0, 1)]
    artifact = ranks[0].artifact
    ranks[1].artifact = artifact
    optimizer = torch.optim.Adam(artifact.parameters(), lr=config.optimizer.adam.lr)
    for step in range(config.train.steps):
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(step, config.train.steps, config.optimizer.adam.lr, config.optimizer.adam.lr_final)
        artifact.at_step(step / config.train.steps)
        loss = sum(setup.step_loss(*setup.draw())[0] for setup in ranks) / len(ranks)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return artifact


def test_two_ranks_train_the_artifact_one_process_trains_on_their_global_batch(run_config, ddp_run):
    _, config_file = run_config
    reference = one_process_on_the_global_batch(load_config(config_file))
    ddp = load_artifact(ddp_run)
    moved = (reference() - 0.5).abs().mean()  # from the grey start
    assert moved > 0.005, "the steps must move the artifact for the comparison to mean anything"
    # Adam moves a pixel by about lr/4 whatever its gradient's size, so the few pixels whose gradient is ~0
    # flip with float noise; the rest must agree. (Rank 0's half batch alone: 96 % of pixels off by > 1e-3.)
    off = (ddp() - reference()).abs()
    assert off.mean() < 0.01 * moved and (off > 1e-3).float().mean() < 0.02, (off.mean(), off.max())
    steps = [json.loads(line)["step"] for line in (ddp_run / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, STEPS + 1)), "rank 0 alone writes the metrics"
    with safe_open(str(ddp_run / "checkpoint.safetensors"), "pt") as handle:
        assert handle.metadata()["ranks"] == "2" and {"generator", "generator.1"} <= set(handle.keys())


def test_stopped_ddp_run_resumes_to_the_same_artifact_and_refuses_another_world_size(run_config, ddp_run):
    root, config_file = run_config
    run = root / "stopped"
    proc = subprocess.Popen(torchrun(config_file, run), stderr=subprocess.DEVNULL)
    checkpoint = run / "checkpoint.safetensors"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not checkpoint.exists():
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)  # what a scheduler's preemption sends torchrun: it stops its workers
    proc.wait(timeout=120)
    with safe_open(str(checkpoint), "pt") as handle:
        stopped_at = int(handle.metadata()["step"])
    assert stopped_at < STEPS and not (run / "patch.png").exists(), "the run must be stopped mid-way"

    alone = subprocess.run([sys.executable, "-m", "patchgen", "train", str(config_file), "--out", str(run),
                            "--resume", "--quiet", "--no-eval"], capture_output=True, text=True, timeout=600)
    assert alone.returncode == 2
    assert "was written by 2 training process(es), this resume runs 1" in alone.stderr.strip().splitlines()[-1]

    resumed = subprocess.run(torchrun(config_file, run, "--resume"), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert torch.allclose(load_artifact(run)(), load_artifact(ddp_run)(), atol=1e-5)
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, STEPS + 1)), "the log reads as one run"
