"""The small attack the optimiser and query-run tests share: a targeted 'cat' patch on the real CIFAR ResNet20, as
config keys, so a test can load it in-process or write it out for the CLI."""

import yaml

from patchgen.config import apply_override, load_config

# EOT mild enough that a few hundred candidate scores show a trend, strong enough that every step's draw differs
MILD_EOT = {"eot.rotation_deg": 5, "eot.scale": [0.95, 1.05], "eot.translate": 0.02, "eot.perspective": 0,
            "eot.brightness": 0.02, "eot.contrast": [0.95, 1.05], "eot.noise": 0, "eot.colour_jitter": 0,
            "eot.blur_sigma": [0.1, 0.3]}


def cat_patch(resnet20_path, data, **overrides) -> dict:
    """An 8 px patch at a random place on 32 px CIFAR images, trained at 2x2 values (artifact.cell 4: the
    low-resolution encoding a search explores in a few hundred scores), its loss the goal's alone."""
    return {"victim": f"cifar_resnet20:{resnet20_path}", "data.train": str(data), "goal": "targeted",
            "goal_class": "cat", "placement.kind": "anywhere", "artifact.size": 8, "artifact.cell": 4,
            "train.batch": 8, "train.device": "cpu", "loss.weights": {"adversarial": 1, "tv": 0, "nps": 0},
            **MILD_EOT, **overrides}


def load(settings: dict):
    return load_config(None, [f"{key}={value}" for key, value in settings.items()])


def write_yaml(path, settings: dict):
    """The settings as a config file (dotted keys nested, as a user writes them)."""
    data = {}
    for key, value in settings.items():
        apply_override(data, f"{key}={value}")
    path.write_text(yaml.safe_dump(data))
    return path
