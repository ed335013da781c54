"""The engine's plug-ins on real models: where `anywhere` puts an artifact, shapes from a PNG's alpha, the run
record read back by every reader, `eval --artifact` on a peer's patch, a classifier run end to end, and one line
for every choice a config names wrongly."""

import json
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from capture.run_artifact import load_run
from patchgen import eot, run_dir
from patchgen.artifacts import Patch, artifact_from_image, load_artifact
from patchgen.artifacts.masks import shape_mask
from patchgen.checkpoint import load_checkpoint
from patchgen.config import EOTSettings, PlacementConfig, RunConfig, load_config, to_dict
from patchgen.data import Scenes
from patchgen.errors import UserError
from patchgen.optimizers.adam import Adam, Settings as AdamSettings
from patchgen.placements import placement_for
from patchgen.placements.base import Placed
from patchgen.training import train
from spine_helpers import small_config, two_image_folder
from test_config_and_cli import one_error_line, run_cli
from test_config_checks import imported

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(autouse=True)
def one_thread_in_subprocesses(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the CLI runs in a child process: it reads this, not our setting


@pytest.fixture(scope="module")
def two_inria_images(inria_dev, tmp_path_factory):
    return two_image_folder(inria_dev, tmp_path_factory.mktemp("inria"))


def cifar_victim(resnet20_path) -> str:
    return f"cifar_resnet20:{resnet20_path}"


def classifier_config(path, resnet20_path, data):
    """A 2-step untargeted run on CIFAR; tests change it with --set."""
    path.write_text(f"victim: {cifar_victim(resnet20_path)}\ngoal: untargeted\ndata: {{train: {data}}}\n"
                    "artifact: {size: 16}\ntrain: {steps: 2, batch: 4}\n")
    return path


def the_one_line(result) -> str:
    """rc 2 and exactly one line on stderr, patchgen's."""
    line = one_error_line(result)
    assert result.returncode == 2 and len([x for x in result.stderr.splitlines() if x.strip()]) == 1, result.stderr
    return line


def config_error(config, out, *assignments) -> str:
    """`patchgen train CONFIG --set ...` refused at config load: before torch (so before any model) loads, with
    one line, and no run folder made."""
    sets = [arg for assignment in assignments for arg in ("--set", assignment)]
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "patchgen.cli", "train", str(config), "--out",
                             str(out), *sets], capture_output=True, text=True)
    assert "torch" not in imported(result.stderr), "the config is checked before any model loads"
    result.stderr = "\n".join(line for line in result.stderr.splitlines() if not line.startswith("import time:"))
    line = the_one_line(result)
    assert not out.exists()
    return line


# placement `anywhere`


def black_scenes(count: int, size: int) -> Scenes:
    """Black size x size images, each with the whole image as its one 'target' (as classifier data holds them)."""
    return Scenes(torch.zeros(count, 3, size, size), torch.tensor([[[0.0, 0.0, size, size]]]).repeat(count, 1, 1),
                  torch.ones(count, 1, dtype=torch.bool), [""] * count)


def anywhere(area: float, shape: str, artifact_px: int):
    """A patch and the `anywhere` placement a run would build for it, under the classifier benchmark's EOT
    (any rotation: the corners reach farthest)."""
    patch = Patch(artifact_px, shape)
    config = RunConfig(goal="untargeted", placement=PlacementConfig(area=area), eot=EOTSettings(rotation_deg=180))
    return patch, placement_for(config, patch)


@pytest.mark.parametrize("shape", ["square", "circle"])
@pytest.mark.parametrize("image_px, artifact_px, draws", [(32, 16, 1000), (224, 64, 150)])
def test_anywhere_stays_inside_the_image_and_covers_the_asked_area(shape, image_px, artifact_px, draws):
    area = 0.1
    patch, placement = anywhere(area, shape, artifact_px)
    scenes = black_scenes(draws, image_px)
    white = torch.ones(3, artifact_px, artifact_px)
    params = eot.sample(draws, torch.Generator().manual_seed(0), placement.config.eot, artifact_px)
    placed = placement.place(scenes, params)
    footprint = placed.footprint().view(-1, 4)
    assert (footprint >= 0).all() and (footprint <= image_px).all(), (footprint.min(), footprint.max())
    # the same placements drawn into a black border around the image: none of the artifact may land on it (one
    # that crossed an edge would show in the pixels next to it)
    border = 4
    shift = torch.eye(3)
    shift[:2, 2] = border
    canvas = torch.zeros(draws, 3, image_px + 2 * border, image_px + 2 * border)
    framed = eot.render(white, patch.mask, canvas, Placed(shift @ placed.matrix, placed.valid, artifact_px), params)
    assert framed[:, :, border:-border, border:-border].amax((1, 2, 3)).min() > 0.5  # every draw is drawn
    framed[:, :, border:-border, border:-border] = 0
    assert framed.max() == 0, "an artifact pixel landed outside the image"

    generator = torch.Generator().manual_seed(1)
    params = placement.evaluation_params(draws, generator)
    covered = eot.render(white, patch.mask, scenes.images, placement.place(scenes, params), params)[:, 0]
    assert abs(covered.mean().item() / area - 1) < 0.01, covered.mean().item()


def test_an_area_too_large_to_fit_is_one_line():
    _, placement = anywhere(0.5, "square", 16)
    with pytest.raises(UserError) as caught:
        placement.window(black_scenes(1, 32))
    message = str(caught.value)
    assert "\n" not in message and "placement.area 0.5" in message and "32x32 image" in message, message


# shapes from a PNG's alpha


def ring_png(path, side: int = 64):
    """An RGBA image whose alpha is a ring (an eyeglass rim): opaque from 0.45 to 0.95 of the radius."""
    centred = np.arange(side) + 0.5 - side / 2
    radius = np.hypot(*np.meshgrid(centred, centred)) / (side / 2)
    alpha = ((radius > 0.45) & (radius < 0.95)).astype(np.uint8) * 255
    Image.fromarray(np.dstack([np.full((side, side, 3), 90, np.uint8), alpha]), "RGBA").save(path)
    return path


def test_a_png_alpha_shape_trains_and_renders_only_inside_it(resnet20_path, cifar_three_classes, tmp_path):
    ring = ring_png(tmp_path / "ring.png")
    config = load_config(None, [f"victim={cifar_victim(resnet20_path)}", f"data.train={cifar_three_classes}",
                                "goal=untargeted", f"artifact.shape={ring}", "artifact.size=32",
                                "placement.area=0.12", "loss.weights.tv=0", "loss.weights.nps=0", "train.steps=3",
                                "train.batch=12", "train.log_every=1"])
    run = train(config, tmp_path / "run", progress=False)
    artifact = load_artifact(run)
    assert torch.equal(artifact.mask, shape_mask(str(ring), 32))
    assert run_dir.read_sidecar(run)["shape"] == str(ring)
    mask = artifact.mask[0]
    inside, outside = mask == 1, mask == 0
    # a grey start and no regulariser: only what the victim saw moved. EOT's blur (5x5) draws colour in from 2 px
    # around the alpha, so the hole and the corners beyond that must stay exactly grey
    moved = (artifact.logits != 0).any(0)
    far = torch.nn.functional.max_pool2d((mask > 0)[None, None].float(), 5, 1, 2)[0, 0] == 0
    assert far.sum() > 60 and not moved[far].any(), moved.int()
    assert moved[inside].float().mean() > 0.9
    # at identity on black: its colours inside the alpha, nothing outside
    rendered = eot.render(artifact(), artifact.mask, torch.zeros(1, 3, 32, 32),
                          Placed(torch.eye(3)[None], torch.ones(1, 1, dtype=torch.bool), 32), eot.identity(1, 32))[0]
    assert rendered[:, outside].abs().max() < 1e-5  # float rounding of the identity's inverse, nothing more
    assert torch.allclose(rendered[:, inside], artifact()[:, inside].detach(), atol=1e-5)
    assert torch.allclose(artifact_from_image(run / run_dir.ARTIFACT_PNG).mask, artifact.mask, atol=1 / 255)


def test_mask_files_that_hold_no_shape_are_one_line(resnet20_path, cifar_three_classes, tmp_path):
    config = classifier_config(tmp_path / "c.yaml", resnet20_path, cifar_three_classes)
    text = tmp_path / "glasses.png"
    text.write_text("a shape, I promise")
    line = config_error(config, tmp_path / "run", f"artifact.shape={text}")
    assert f"{text}: not a readable image" in line, line

    opaque = tmp_path / "opaque.png"
    Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(opaque)
    clear = tmp_path / "clear.png"
    Image.fromarray(np.zeros((32, 32, 4), np.uint8), "RGBA").save(clear)
    for path, says in ((opaque, "has no transparent pixels"), (clear, "is transparent everywhere")):
        line = config_error(config, tmp_path / "run", f"artifact.shape={path}")  # at load, before any model
        assert says in line and str(path) in line and "artifact.shape" in line, line


# the run record


def test_the_run_record_round_trips_through_every_reader(yolov5n_path, two_inria_images, tmp_path):
    config = small_config(yolov5n_path, two_inria_images, **{"goal": "mislabel", "goal_class": "car",
                                                            "target_classes": "[person]", "placement.scale": 0.3,
                                                            "train.steps": 2})
    run = train(config, tmp_path / "run", progress=False)
    sidecar = run_dir.read_sidecar(run)
    assert (sidecar["goal"], sidecar["goal_class"], sidecar["family"]) == ("mislabel", "car", "detector")
    assert sidecar["target_classes"] == ["person"] and sidecar["step"] == 2
    assert sidecar["placement"] == {"kind": "on_targets", "scale": 0.3, "anchor_y": 0.4, "area": 0.1}
    assert sidecar["config"] == to_dict(config)
    assert to_dict(run_dir.run_config(run)) == to_dict(config)

    checkpointed = Patch(32)
    adam = Adam(AdamSettings(), SimpleNamespace(parameters=list(checkpointed.parameters())), 0)
    assert load_checkpoint(run, checkpointed, adam, torch.Generator()) == 2
    assert set(adam.adam.state[checkpointed.logits]) == {"step", "exp_avg", "exp_avg_sq"}, "Adam's moments resume"
    artifact = load_artifact(run)
    assert torch.equal(artifact.logits, checkpointed.logits) and torch.equal(artifact.mask, checkpointed.mask)
    assert not torch.equal(artifact.logits, torch.zeros_like(artifact.logits)), "two steps moved the grey start"
    assert torch.allclose(artifact_from_image(run / run_dir.ARTIFACT_PNG)(), artifact(), atol=1 / 255)

    record = load_run(run)
    assert (record.goal, record.target_classes, record.goal_class) == ("mislabel", ("person",), "car")


# evaluating any image: `patchgen eval --artifact`


def test_eval_artifact_scores_a_peer_patch_on_a_detector(yolov5n_path, two_inria_images, shared_assets, tmp_path):
    out = tmp_path / "out"
    result = run_cli("eval", "--artifact", shared_assets / "peer_patches" / "thys2019_object_score.png", "--victim",
                     yolov5n_path, "--data", two_inria_images, "--out", out, "--set", "placement.scale=0.35",
                     "--set", "imgsz=320", "--quiet")
    assert result.returncode == 0, result.stderr
    assert all((out / name).is_file() for name in ("results.json", "report.html", "grid.png"))
    results = json.loads((out / "results.json").read_text())
    assert results["artifact"].endswith("thys2019_object_score.png") and results["goal"] == "vanish"
    table = results["results"]
    assert table["adv"]["ap50_clean"] < table["noise"]["ap50_clean"] and table["adv"]["ap50_clean"] < \
        table["clean"]["ap50_clean"], table


def test_eval_artifact_on_a_classifier_gives_the_classifier_table(resnet20_path, cifar_three_classes, tmp_path):
    image = tmp_path / "random.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(image)
    out = tmp_path / "out"
    result = run_cli("eval", "--artifact", image, "--victim", cifar_victim(resnet20_path), "--data",
                     cifar_three_classes, "--out", out, "--set", "goal=untargeted", "--quiet")
    assert result.returncode == 0, result.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["family"] == "classifier" and results["images"] == 12
    table = results["results"]
    assert set(table["clean"]) == {"top1"}
    assert set(table["noise"]) == set(table["adv"]) == {"top1", "goal_rate", "goal_judged"}
    assert "top-1 accuracy" in (out / "results.md").read_text()


# a classifier run end to end


def test_a_targeted_classifier_run_trains_and_evaluates(resnet20_path, cifar_three_classes, tmp_path):
    config = classifier_config(tmp_path / "c.yaml", resnet20_path, cifar_three_classes)
    run = tmp_path / "run"
    result = run_cli("train", config, "--out", run, "--quiet", "--set", "goal=targeted", "--set", "goal_class=cat",
                     "--set", "train.steps=3")
    assert result.returncode == 0, result.stderr
    sidecar = run_dir.read_sidecar(run)
    assert (sidecar["family"], sidecar["goal"], sidecar["goal_class"]) == ("classifier", "targeted", "cat")
    assert sidecar["target_classes"] == [] and sidecar["placement"]["kind"] == "anywhere"
    results = json.loads((run / run_dir.EVAL / "results.json").read_text())
    table = results["results"]
    assert set(table) == {"clean", "noise", "adv"} and set(table["clean"]) == {"top1"}
    assert all(set(table[c]) == {"top1", "goal_rate", "goal_judged"} for c in ("noise", "adv"))
    assert table["clean"]["top1"] >= 0.75, table  # ResNet20 knows these twelve images
    report = (run / run_dir.EVAL / "report.html").read_text()
    assert 'src="grid.png"' in report and (run / run_dir.EVAL / "grid.png").is_file()


# one line for every choice a config names wrongly


@pytest.mark.parametrize("assignment, says", [
    ("goal=mislabel", ["config key 'goal' = 'mislabel' is a detector goal",
                       "use one of its goals (untargeted, targeted)"]),
    ("goal=targeted", ["config key 'goal_class' is required by goal 'targeted'"]),
    ("placement.kind=everywhere",
     ["'placement.kind' must be one of on_targets, anywhere, torso, in_box, whole_image, got 'everywhere'"]),
    ("loss.weights.sparkle=1", ["'loss.weights.sparkle' must be one of tv, nps, style, got 'sparkle'"]),
    ("artifact.kind=sticker",
     ["'artifact.kind' must be one of patch, texture, camouflage, stickers, pixels, got 'sticker'"]),
    ("artifact.kind=texture", ["'placement.kind' = 'torso' puts the artifact on target boxes", "use anywhere"]),
    ("artifact.init=zeros", ["'artifact.init' must be one of grey, random, got 'zeros'"]),
    ("data.labels=guess", ["'data.labels' must be one of auto, files, pseudo, got 'guess'"]),
])  # fmt: skip
def test_a_wrong_choice_is_one_line_before_torch_loads(assignment, says, resnet20_path, cifar_three_classes,
                                                       tmp_path):
    config = classifier_config(tmp_path / "c.yaml", resnet20_path, cifar_three_classes)
    line = config_error(config, tmp_path / "run", assignment)
    assert all(part in line for part in says), line


def test_a_goal_class_the_model_lacks_lists_its_classes(resnet20_path, cifar_three_classes, tmp_path):
    config = classifier_config(tmp_path / "c.yaml", resnet20_path, cifar_three_classes)
    result = run_cli("train", config, "--out", tmp_path / "run", "--set", "goal=targeted", "--set",
                     "goal_class=unicorn")
    line = the_one_line(result)
    assert "'unicorn' is not one of" in line
    assert "(airplane, automobile, bird, cat, deer, dog, frog, horse, ship, truck)" in line, line
    assert not (tmp_path / "run" / run_dir.CONFIG).exists()
