"""The targeted goal's margin loss (loss.targeted_margin): on the real CIFAR ResNet20, the best other class's
log-probability minus the goal's, floored at -m, so an image the goal already wins by m no longer counts."""

import pytest
import torch
import torch.nn.functional as F

from patchgen import registry
from patchgen.errors import UserError
from patchgen.training import Setup
from query_helpers import cat_patch, load


def test_the_margin_is_the_runner_up_over_the_goal_floored_at_minus_m(resnet20_path, cifar_three_classes):
    setup = Setup(load(cat_patch(resnet20_path, cifar_three_classes, **{"loss.targeted_margin": 2.0})), quiet=True)
    scenes = setup.scenes.batch(torch.arange(len(setup.scenes)))
    logits = setup.victim(scenes.images)
    cat = setup.victim.class_id("cat")
    logits[0, cat] = logits[0].max() + 10  # one image the goal wins by far more than the margin
    loss = setup.goal.loss(logits, scenes, None)
    log_p = F.log_softmax(logits, 1)
    runner_up = torch.cat([log_p[:, :cat], log_p[:, cat + 1:]], 1).amax(1)
    assert torch.allclose(loss, (runner_up - log_p[:, cat]).clamp(min=-2.0))
    won = log_p[:, cat] - runner_up >= 2.0
    assert won[0] and not won.all(), "the comparison needs images on both sides of the margin"
    assert torch.equal(loss == -2.0, won), "exactly the images already won by the margin sit at the floor"
    plain = registry.get("goal", "targeted")(setup.victim, load(cat_patch(resnet20_path, cifar_three_classes)))
    assert torch.allclose(plain.loss(logits, scenes, None), -log_p[:, cat]), "0: cross-entropy, as before"


def test_a_margin_on_an_untargeted_goal_is_refused(resnet20_path, cifar_three_classes):
    settings = cat_patch(resnet20_path, cifar_three_classes, **{"loss.targeted_margin": 1.0, "goal": "untargeted"})
    del settings["goal_class"]
    with pytest.raises(UserError, match="'loss.targeted_margin' = 1.0 is never read by this run"):
        load(settings)
