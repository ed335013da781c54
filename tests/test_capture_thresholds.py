"""One detection threshold and one match IoU: a detection just under either counts nowhere, just over counts
everywhere: in evaluation's recall and goal success and in a photo's verdict (its --conf default included)."""

import argparse

import numpy as np
import pytest
import torch

from capture.commands import add_commands
from patchgen import registry
from patchgen.average_precision import recall_at
from patchgen.config import RunConfig, from_dict
from patchgen.data import Scenes
from patchgen.goals.photo import PhotoEvidence
from patchgen.victims import load_victim

WEARER = np.array([100.0, 100.0, 200.0, 300.0])


def score_flags(*argv):
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers())
    return parser.parse_args(["score", "photo.jpg", *argv])


@pytest.mark.parametrize("score, shift, found", [(0.24, 0, False), (0.26, 0, True),  # the threshold
                                                 (0.9, 34, False), (0.9, 32, True)])  # IoU 0.49 and 0.52
def test_evaluation_and_a_photo_count_a_detection_alike(score, shift, found, yolov5n_path):
    victim = load_victim(str(yolov5n_path))
    vanish = registry.get("goal", "vanish")(victim, from_dict(RunConfig, {"goal": "vanish"}))
    det = np.array([[WEARER[0] + shift, WEARER[1], WEARER[2] + shift, WEARER[3], score, 0]])
    scenes = Scenes(torch.zeros(1, 3, 8, 8), torch.as_tensor(WEARER, dtype=torch.float32).view(1, 1, 4),
                    torch.ones(1, 1, dtype=torch.bool), ["photo"])
    hidden = bool(vanish.succeeded([torch.as_tensor(det, dtype=torch.float32)], scenes, None)[0])
    conf = score_flags().conf  # what `patchgen score` judges by unless told
    verdict = vanish.photo_verdict(PhotoEvidence(det, None, (640, 480), wearer_box=WEARER, conf=conf))
    assert recall_at([det], [WEARER[None]]) == float(found)
    assert hidden == verdict.worked == (not found)
