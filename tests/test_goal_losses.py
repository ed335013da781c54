"""Each goal lowers its own loss: a short real training against a real victim, the goal's term measured on one
fixed draw of EOT params before and after (vanish: tests/test_train.py)."""

import pytest

from patchgen.artifacts import load_artifact
from patchgen.config import load_config
from patchgen.training import Setup, train
from spine_helpers import two_image_folder
from test_train import fixed_objective

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# regularisers off: only the goal's own term moves the artifact, and only it is measured
UNREGULARISED = {"loss.weights.tv": 0, "loss.weights.nps": 0, "train.log_every": 5, "train.checkpoint_every": 100}
# YOLOv5n at 320 px on two INRIA images: a random start (a grey patch is nowhere near a phantom 'stop sign', and
# its gradient is ~0) and a large patch, so 25 steps move the detector visibly
DETECTOR = {"imgsz": 320, "artifact.size": 32, "artifact.init": "random", "train.batch": 2, "train.steps": 25,
            "optimizer.adam.lr": 0.3, "eot.rotation_deg": 5}
CLASSIFIER = {"artifact.size": 16, "placement.area": 0.1, "train.batch": 12, "train.steps": 20,
              "optimizer.adam.lr": 0.1}

# goal: (victim family, its settings, how far its loss must drop at least: about half of what it drops here)
GOALS = {
    "mislabel": ("detector", {"goal_class": "car", "placement.scale": 0.5}, 0.2),
    "appear": ("detector", {"goal_class": "'stop sign'", "placement.area": 0.2}, 0.25),
    "untargeted": ("classifier", {}, 0.12),
    "targeted": ("classifier", {"goal_class": "cat"}, 2.0),
}


@pytest.fixture(scope="module")
def two_inria_images(inria_dev, tmp_path_factory):
    return two_image_folder(inria_dev, tmp_path_factory.mktemp("inria"))


@pytest.mark.parametrize("goal", GOALS)
def test_each_goal_lowers_its_loss_in_a_few_steps(goal, yolov5n_path, two_inria_images, resnet20_path,
                                                  cifar_three_classes, tmp_path):
    family, settings, drop = GOALS[goal]
    if family == "detector":
        settings = {"victim": yolov5n_path, "data.train": two_inria_images, **DETECTOR, **settings}
    else:
        settings = {"victim": f"cifar_resnet20:{resnet20_path}", "data.train": cifar_three_classes, **CLASSIFIER,
                    **settings}
    config = load_config(None, [f"{k}={v}" for k, v in {"goal": goal, **UNREGULARISED, **settings}.items()])
    run = train(config, tmp_path / "run", progress=False)
    setup = Setup(config, quiet=True)  # the same seed: its artifact is the one training started from
    before = fixed_objective(setup, setup.artifact().detach().clone())
    after = fixed_objective(setup, load_artifact(run)().detach())
    assert after < before - drop, (goal, before, after)
