import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors import safe_open

from patchgen import eot
from patchgen.artifacts import load_artifact
from patchgen.training import Setup, train
from spine_helpers import small_config, two_image_folder


def fixed_objective(setup, patch_image):
    """The adversarial objective (the config's vanish scope) over one fixed draw of EOT params."""
    generator = torch.Generator().manual_seed(123)
    index = torch.arange(len(setup.scenes))
    params = eot.sample(len(index) * setup.slots, generator, setup.config.eot, patch_image.shape[-1])
    with torch.no_grad():
        setup.artifact.logits.copy_(torch.logit(patch_image.clamp(1e-4, 1 - 1e-4)))
        return setup.step_loss(index, params)[1]["adversarial"].item()


@pytest.mark.parametrize("scope", ["image", "target"])
def test_thirty_steps_on_two_images_lower_the_objective(yolov5n_path, inria_dev, tmp_path, scope):
    data = two_image_folder(inria_dev, tmp_path / "data")
    config = small_config(yolov5n_path, data, **{"loss.vanish_scope": scope})
    run = train(config, tmp_path / "run", progress=False)
    setup = Setup(config, quiet=True)
    before = fixed_objective(setup, torch.full((3, 32, 32), 0.5))
    after = fixed_objective(setup, load_artifact(run)().detach())
    assert after < before - 0.05, (before, after)
    for name in ("config.yaml", "patch.png", "patch.safetensors", "patch.json", "metrics.jsonl", "loss.png"):
        assert (run / name).is_file(), name


def cli_train(config_file, run, *extra):
    command = [sys.executable, "-m", "patchgen.cli", "train", str(config_file), "--out", str(run), "--quiet",
               "--no-eval", *extra]
    return command


def test_killed_then_resumed_run_ends_with_the_same_patch(yolov5n_path, inria_dev, tmp_path):
    # Both runs go through the CLI in fresh processes, as a user's would (one process's float paths can differ
    # from another's in the last bits, and Adam amplifies that over steps).
    data = two_image_folder(inria_dev, tmp_path / "data")
    config_file = tmp_path / "config.yaml"
    lines = [f"victim: {yolov5n_path}", "imgsz: 320", "data: {train: " + str(data) + "}",
             "artifact: {size: 32}", "train: {steps: 24, batch: 2, checkpoint_every: 4, log_every: 1}",
             "optimizer: {adam: {lr: 0.05}}"]
    config_file.write_text("\n".join(lines) + "\n")
    straight = subprocess.run(cli_train(config_file, tmp_path / "straight"), capture_output=True, text=True)
    assert straight.returncode == 0, straight.stderr

    run = tmp_path / "killed"
    proc = subprocess.Popen(cli_train(config_file, run), stderr=subprocess.DEVNULL, start_new_session=True)
    checkpoint = run / "checkpoint.safetensors"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if checkpoint.exists():
            with safe_open(str(checkpoint), "pt") as handle:
                if int(handle.metadata()["step"]) >= 8:
                    break
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    with safe_open(str(checkpoint), "pt") as handle:
        killed_at = int(handle.metadata()["step"])
    assert 8 <= killed_at < 24, f"the run must be killed mid-way, was at step {killed_at}"
    assert not (run / "patch.png").exists()

    resumed = subprocess.run(cli_train(config_file, run, "--resume"), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    a, b = load_artifact(tmp_path / "straight")(), load_artifact(run)()
    assert torch.allclose(a, b, atol=1e-5), (a - b).abs().max()
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 25)), "the log reads as one run"


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def loss_and_gradient(setup, index, params):
    setup.artifact.zero_grad(set_to_none=True)
    total, parts = setup.step_loss(index, params)
    total.backward()
    return parts["adversarial"].item(), setup.artifact.logits.grad.clone()


@needs_cuda
def test_bf16_autocast_step_agrees_with_float32(yolov5n_path, inria_dev, tmp_path):
    data = two_image_folder(inria_dev, tmp_path / "data")
    amp = Setup(small_config(yolov5n_path, data, **{"train.device": "cuda", "train.amp": True}), quiet=True)
    fp32 = Setup(small_config(yolov5n_path, data, **{"train.device": "cuda", "train.amp": False}), quiet=True)
    index, params = amp.draw()
    with amp.autocast:
        assert amp.victim(amp.scenes.batch(index).images).dtype == torch.bfloat16, "autocast is on"
    (loss_a, grad_a), (loss_f, grad_f) = loss_and_gradient(amp, index, params), loss_and_gradient(fp32, index, params)
    assert loss_a == pytest.approx(loss_f, rel=0.05)
    assert torch.nn.functional.cosine_similarity(grad_a.flatten(), grad_f.flatten(), dim=0) > 0.9


@needs_cuda
def test_compiled_victim_gives_the_eager_loss_and_trains(yolov5n_path, inria_dev, tmp_path):
    data = two_image_folder(inria_dev, tmp_path / "data")
    settings = {"train.device": "cuda", "train.amp": False, "train.steps": 4}
    eager = Setup(small_config(yolov5n_path, data, **settings), quiet=True)
    compiled = Setup(small_config(yolov5n_path, data, **settings, **{"train.compile": True}), quiet=True)
    index, params = eager.draw()
    for _ in range(2):  # the second call replays the CUDA graph
        (loss_c, grad_c), (loss_e, grad_e) = loss_and_gradient(compiled, index, params), \
            loss_and_gradient(eager, index, params)
        assert loss_c == pytest.approx(loss_e, rel=1e-3)
        assert torch.allclose(grad_c, grad_e, rtol=1e-2, atol=1e-6)
    run = train(small_config(yolov5n_path, data, **settings, **{"train.compile": True}), tmp_path / "run",
                progress=False)
    assert torch.isfinite(load_artifact(run)()).all() and (run / "patch.png").is_file()
